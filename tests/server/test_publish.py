"""`--publish`: a session's stream pushed over WHIP to another server (here a second
dancenow, whose own WHEP viewers then see it), and a refusing endpoint that leaves the
session running."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from benchmarks.browser import serving
from engine.avatar import load_bundle
from engine.errors import InputError
from engine.pipeline import PipelineConfig
from server.app import MANAGER, ServeConfig, create_app
from server.loopback import LoopbackClient, LoopbackViewer, performer_frames
from server.publish import PublishTarget
from server.session import SessionOptions

SDP = {"Content-Type": "application/sdp"}


def _app(bundle, publish: tuple = ()):  # noqa: ANN001, ANN202
    opts = SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe"), publish=publish)
    return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                  session=opts))


def test_a_stream_published_to_another_server_reaches_its_viewers(until,
                                                                 tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    frames = [f for f, _ in performer_frames(size=192)]
    seen: dict = {}

    async def main() -> None:
        receiving = _app(bundle)
        async with serving(receiving) as far:
            origin = _app(bundle, (PublishTarget(far + "whip", None),
                                   PublishTarget("http://127.0.0.1:9/whip", None)))
            async with serving(origin) as near, aiohttp.ClientSession() as http:
                camera = LoopbackClient(frames, direction="sendonly")
                async with http.post(near + "whip", data=(await camera.offer())["sdp"],
                                     headers=SDP) as res:
                    assert res.status == 201, await res.text()
                    secret = res.headers["Dancenow-Secret"]
                    await camera.answer({"sdp": await res.text(), "type": "answer"})
                # the far server gets a WHIP session of its own: the near one's avatar
                assert await until(lambda: len(receiving[MANAGER].sessions) == 1, 30)
                far_session = next(iter(receiving[MANAGER].sessions.values()))
                viewer = LoopbackViewer()
                async with http.post(f"{far}whep/{far_session.stream}",
                                     data=await viewer.offer(), headers=SDP) as res:
                    assert res.status == 201, await res.text()
                    await viewer.answer(await res.text())
                seen["far_frames"] = await until(lambda: len(viewer.received) >= 10, 40)
                async with http.get(near + "stats",
                                    headers={"X-Session-Secret": secret}) as res:
                    seen["published"] = (await res.json())["sessions"][0]["published"]
                seen["near_live"] = len(origin[MANAGER].sessions)
                await camera.close()
                # the near session ends: its publisher DELETEs the far session
                seen["far_ended"] = await until(lambda: not receiving[MANAGER].sessions, 20)
                await viewer.close()

    asyncio.run(main())
    assert seen["far_frames"], seen
    good, refused = seen["published"]
    assert good["state"] == "publishing" and good["frames_sent"] >= 10, good
    assert refused["state"] == "failed" and refused["error"], refused  # nothing listens
    assert seen["near_live"] == 1  # the failed endpoint left the session running
    assert seen["far_ended"], seen


def test_publish_targets_are_checked() -> None:
    assert PublishTarget("https://media.example/{stream}/whip").for_stream("a b") == \
        "https://media.example/a%20b/whip"
    for bad in ("ftp://x/whip", "whip", "http:///whip"):
        with pytest.raises(InputError, match="http"):
            PublishTarget(bad)
