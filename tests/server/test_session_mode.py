"""The tracking mode on a session's control channel (server/session.py): `{"mode": ...}`
when it changes (not once per frame), again with the once-a-second frame rate message,
and in `GET /stats`; first with a stand-in channel, then between real aiortc peers with a
pipeline whose frames carry a mode the test chooses."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

import server.session as session_module
from engine.avatar import load_bundle
from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
from server.app import MANAGER, ServeConfig, create_app
from server.loopback import LoopbackClient, performer_frames
from server.session import Session, SessionOptions


class _Channel:
    """A stand-in for the client's control channel: what the session sent on it."""

    label = "control"

    def __init__(self) -> None:
        self.readyState = "connecting"
        self.sent: list[dict] = []

    def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def test_the_mode_is_told_when_it_changes_once_the_channel_is_open() -> None:
    async def main() -> list[dict]:
        session = Session({}, "none", SessionOptions())
        channel = _Channel()
        session._control = channel
        image = np.zeros((8, 8, 3), np.uint8)
        modes = ["full", "full", "full", "upper", "upper", "full", "none", "none"]
        for i, mode in enumerate(modes):
            if i == 2:
                channel.readyState = "open"  # the first two frames find it not open yet
            await session._sink(LiveFrame(i, image, mode=mode))
        await session.pc.close()
        return channel.sent

    assert asyncio.run(main()) == [{"mode": "full"}, {"mode": "upper"}, {"mode": "full"},
                                   {"mode": "none"}]


def _scripted_pipeline() -> type[LivePipeline]:
    """A LivePipeline whose frames leave with the mode in the class's `mode` (as the
    engine sets it from what the camera shows)."""

    class Scripted(LivePipeline):
        mode = "full"

        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            finish = self.steps["finish"]

            def finish_with_mode(frame: LiveFrame) -> LiveFrame:
                frame = finish(frame)
                frame.mode = Scripted.mode
                return frame

            self.steps["finish"] = finish_with_mode

    return Scripted


@pytest.fixture(scope="module")
def frames():  # noqa: ANN201
    return [f for f, _ in performer_frames()]


def test_a_session_tells_its_client_the_mode_on_the_control_channel(until,
        tiny_bundles, frames, monkeypatch) -> None:  # noqa: ANN001
    scripted = _scripted_pipeline()
    monkeypatch.setattr(session_module, "LivePipeline", scripted)
    bundle = load_bundle(tiny_bundles["fp16"])
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1, session=
                                 SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe"))))

    async def body(http: TestClient) -> None:
        client = LoopbackClient(frames)
        heard: list[tuple[float, dict]] = []  # (arrival, message) but the poses
        client.control.on("message", lambda m: heard.append((time.perf_counter(),
                                                             json.loads(m))))
        res = await http.post("/offer", json=await client.offer())
        assert res.status == 200, await res.text()
        answer = await res.json()
        await client.answer(answer)
        own = {"X-Session-Secret": answer["secret"]}

        def told() -> list[str]:  # the mode-only messages, in order
            return [m["mode"] for _, m in heard if set(m) == {"mode"}]

        async def session_stats() -> dict:
            return (await (await http.get("/stats", headers=own)).json())["sessions"][0]

        assert await until(lambda: told() == ["full"], 20), heard
        # Two once-a-second messages after the first frame: both carry the mode.
        first = next(t for t, m in heard if "mode" in m)
        assert await until(lambda: sum(t > first and "send_fps" in m for t, m in heard) >= 2,
                            5), heard
        assert all(m.get("mode") == "full" for t, m in heard if t > first and "send_fps" in m)
        stats = await session_stats()
        assert stats["mode"] == "full" and stats["frames_out"] > 10
        assert told() == ["full"]  # told once, not with every frame
        for mode in ("upper", "none", "full"):
            scripted.mode = mode
            changed = time.perf_counter()
            assert await until(lambda m=mode: told()[-1:] == [m], 3), heard
            arrived = next(t for t, m in reversed(heard) if m == {"mode": mode})
            assert arrived - changed < 1.0  # on the change, not a second later
            assert (await session_stats())["mode"] == mode
        await asyncio.sleep(1.2)
        assert told() == ["full", "upper", "none", "full"]
        await client.close()
        manager = app[MANAGER]
        assert await until(lambda: not manager.sessions, 10)

    async def main() -> None:
        async with TestClient(TestServer(app)) as http:
            await body(http)

    asyncio.run(main())
