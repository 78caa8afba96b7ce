"""The server with real aiortc peers on loopback: sessions, statistics, errors, cleanup."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest
from aiortc import RTCPeerConnection

from engine.avatar import load_bundle
from engine.pipeline import PipelineConfig
from server.app import MANAGER, ServeConfig, create_app
from server.loopback import LoopbackClient as Client
from server.loopback import performer_frames
from server.session import SessionOptions

TOKEN = "s3cret"


def _app(bundle_path, max_sessions: int = 1, token: str | None = None):  # noqa: ANN001, ANN202
    bundle = load_bundle(bundle_path)
    opts = SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe", predict="auto"))
    return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=max_sessions,
                                  token=token, session=opts))


@pytest.fixture(scope="module")
def frames():  # noqa: ANN201
    return [f for f, _ in performer_frames()]


def test_a_session_streams_the_avatar_back_and_ends_cleanly(run_app, tiny_bundles, frames) -> None:
    app = _app(tiny_bundles["fp16"])

    async def body(http, app) -> None:  # noqa: ANN001
        client = Client(frames)
        asked: list[float] = []
        client.control.on("message", lambda m: asked.append(json.loads(m).get("send_fps")))
        res = await http.post("/offer", json=await client.offer())
        assert res.status == 200, await res.text()
        answer = await res.json()
        assert answer["type"] == "answer" and "VP8" in answer["sdp"]
        await client.answer(answer)
        await asyncio.sleep(2.5)
        assert client.control.readyState == "open" and not client.poses  # the overlay is off
        rates = [r for r in asked if r is not None]
        assert rates and all(5 <= r <= 30 for r in rates)  # the rate to send, once a second
        assert client.camera.pacer.fps == rates[-1]
        client.control.send("not json")  # ignored, the session goes on
        client.show_overlay(True)
        await asyncio.sleep(1.5)
        poses = client.poses
        assert poses and all(len(p) == 33 and all(len(xy) == 2 for xy in p) for p in poses)
        client.show_overlay(False)
        await asyncio.sleep(0.3)
        count = len(poses)
        await asyncio.sleep(0.5)
        assert len(client.poses) == count  # off again
        own = {"X-Session-Secret": answer["secret"]}
        stats = (await (await http.get("/stats", headers=own)).json())["sessions"]
        assert len(stats) == 1 and stats[0]["frames_out"] > 10
        assert stats[0]["frame_codes_seen"] > 10  # the camera's codes were read
        assert (await http.post("/stats", json={"session": answer["session"],
                                                "secret": answer["secret"],
                                                "glass_to_glass_ms": [80, 120]})).status == 200
        stats = (await (await http.get("/stats", headers=own)).json())["sessions"][0]
        assert stats["glass_to_glass"]["samples"] == 2
        # the page's figure is the delay the pose is predicted by (auto), from the next
        # frame on
        await asyncio.sleep(1.0)
        stats = (await (await http.get("/stats", headers=own)).json())["sessions"][0]
        assert stats["predict"]["setting"] == "auto"
        assert stats["predict"]["delay_source"] == "client"
        assert stats["predict"]["delay_ms"] == 100.0
        assert 0 <= stats["predict"]["horizon_ms"] <= 100.0
        client.control.send(json.dumps({"predict": "sometimes"}))  # ignored
        client.control.send(json.dumps({"predict": "off"}))  # the page's switch
        await asyncio.sleep(0.5)
        stats = (await (await http.get("/stats", headers=own)).json())["sessions"][0]
        assert stats["predict"] == {"setting": "off", "horizon_ms": 0.0}
        mine = {"session": answer["session"], "secret": answer["secret"]}
        assert (await http.post("/control", json={**mine, "predict": 60})).status == 200
        assert (await http.post("/control", json={**mine, "predict": 400})).status == 400
        assert (await http.post("/control", json={**mine, "secret": "x",
                                                  "predict": "off"})).status == 403
        await asyncio.sleep(0.5)
        stats = (await (await http.get("/stats", headers=own)).json())["sessions"][0]
        assert stats["predict"]["setting"] == "60"
        times = [t for t, _ in client.received]
        assert len(times) > 15 and client.received[-1][1].shape == (64, 64, 3)
        gaps = np.diff(times[len(times) // 3:])
        assert np.median(gaps) < 0.25  # a steady stream, not a trickle
        await client.close()
        manager = app[MANAGER]
        for _ in range(100):
            if not manager.sessions:
                break
            await asyncio.sleep(0.1)
        assert not manager.sessions  # the browser left: the session ended

    run_app(app, body)
    assert not [t for t in threading.enumerate() if t.name.startswith("dancenow-")]


def test_bad_offers_busy_server_and_tokens(run_app, tiny_bundles, frames) -> None:
    app = _app(tiny_bundles["fp16"], max_sessions=1, token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def body(http, app) -> None:  # noqa: ANN001
        assert (await http.get("/")).status == 200  # the page itself is public
        assert (await http.get("/static/app.js")).status == 200
        for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                     "/static/%2e%2e%2f%2e%2e%2fpyproject.toml"):
            res = await http.get(path)
            assert res.status in (401, 404), path  # never the file outside static/
            assert "import" not in await res.text()
        assert (await http.post("/offer", json={"sdp": "x", "type": "offer"})).status == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/stats", headers=wrong)).status == 401
        audio_only = RTCPeerConnection()
        audio_only.addTransceiver("audio", direction="sendrecv")
        await audio_only.setLocalDescription(await audio_only.createOffer())
        no_video = json.dumps({"sdp": audio_only.localDescription.sdp, "type": "offer"})
        await audio_only.close()
        for payload, needle in ((b"{not json", "not JSON"), (b"[1]", "JSON object"),
                                (b'{"sdp": 1, "type": "offer"}', "expected"),
                                (no_video.encode(), "no video"),
                                (b'{"sdp": "m=video garbage", "type": "offer"}', "malformed")):
            res = await http.post("/offer", data=payload,
                                  headers={**auth, "Content-Type": "application/json"})
            assert res.status == 400, payload
            assert needle in (await res.json())["error"]
        first = Client(frames)
        res = await http.post("/offer", json=await first.offer(), headers=auth)
        assert res.status == 200
        answer = await res.json()
        await first.answer(answer)
        second = Client(frames)
        res = await http.post("/offer", json=await second.offer(), headers=auth)
        assert res.status == 503 and "busy" in (await res.json())["error"]
        await second.close()
        session, secret = answer["session"], answer["secret"]
        res = await http.post("/control", json={"session": session, "secret": secret,
                                                "action": "dance"}, headers=auth)
        assert res.status == 400
        res = await http.post("/control", json={"session": session, "secret": secret,
                                                "action": "calibrate"}, headers=auth)
        assert res.status == 200
        await first.close()

    run_app(app, body)
