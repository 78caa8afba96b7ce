"""WHIP in and WHEP out with real aiortc peers on loopback: a camera over WHIP, its avatar
to several WHEP viewers, the resources' lifecycle, and every bad input a 4xx."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from engine.avatar import load_bundle
from engine.pipeline import PipelineConfig
from server.app import MANAGER, ServeConfig, create_app
from server.http import VIEWERS
from server.loopback import LoopbackClient, LoopbackViewer, performer_frames
from server.peer import IceServer, sent_codec
from server.session import SessionOptions

SDP = {"Content-Type": "application/sdp"}
TOKEN = "whip-token"


def _app(bundle_path, max_sessions: int = 1, max_viewers: int = 4,  # noqa: ANN001, ANN202
         **options: object):
    bundle = load_bundle(bundle_path)
    opts = SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe"), **options)
    return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=max_sessions,
                                  max_viewers=max_viewers, session=opts))


@pytest.fixture(scope="module")
def frames():  # noqa: ANN201
    return [f for f, _ in performer_frames()]


async def _publish(http, frames: list) -> tuple[LoopbackClient, object]:  # noqa: ANN001
    camera = LoopbackClient(frames, direction="sendonly")
    res = await http.post("/whip", data=(await camera.offer())["sdp"], headers=SDP)
    assert res.status == 201, await res.text()
    assert res.content_type == "application/sdp"
    await camera.answer({"sdp": await res.text(), "type": "answer"})
    return camera, res


async def _watch(http, stream: str) -> tuple[LoopbackViewer, object]:  # noqa: ANN001
    viewer = LoopbackViewer()
    res = await http.post(f"/whep/{stream}", data=await viewer.offer(), headers=SDP)
    assert res.status == 201, await res.text()
    await viewer.answer(await res.text())
    return viewer, res


def test_a_whip_camera_reaches_whep_viewers(run_app, until, tiny_bundles, frames) -> None:
    app = _app(tiny_bundles["fp16"])

    async def body(http, app) -> None:  # noqa: ANN001
        camera, res = await _publish(http, frames)
        answer = await res.text()
        # RFC 9725: the answer only receives; the server takes the DTLS server role
        assert "a=recvonly" in answer and "a=sendrecv" not in answer
        assert "a=setup:passive" in answer
        location = res.headers["Location"]
        assert location.startswith("/whip/resource/") and len(location) > 30
        stream, secret = res.headers["Dancenow-Stream"], res.headers["Dancenow-Secret"]
        session = res.headers["Dancenow-Session"]
        assert stream and secret and session and "Link" not in res.headers
        viewers = [await _watch(http, stream) for _ in range(2)]
        assert "a=sendonly" in (await viewers[0][1].text())
        assert await until(lambda: all(len(v.received) >= 5 for v, _ in viewers), 30)
        start = time.perf_counter()
        await asyncio.sleep(2.0)
        assert all(v.fps(start) > 3 for v, _ in viewers)
        assert not camera.received  # the avatar goes to the viewers only
        own = {"X-Session-Secret": secret}
        stats = (await (await http.get("/stats", headers=own)).json())["sessions"]
        assert stats[0]["stream"] == stream and stats[0]["viewers"] == 2
        assert stats[0]["ingest_only"] is True
        listed = stats[0]["viewer_list"]
        assert len(listed) == 2 and all(v["codec"] == "video/vp8" and v["frames_sent"] > 0
                                        for v in listed), listed
        aggregate = await (await http.get("/stats")).json()
        assert aggregate["summary"]["viewers"] == 2 and not aggregate["sessions"]
        # one viewer leaves
        first, first_res = viewers[0]
        assert (await http.delete(first_res.headers["Location"])).status == 200
        assert await until(lambda: len(app[VIEWERS].viewers) == 1, 5)
        assert (await http.delete(first_res.headers["Location"])).status == 404
        # the WHIP session's controls take its secret
        assert (await http.post("/control", json={"session": session, "secret": "no",
                                                  "action": "calibrate"})).status == 403
        assert (await http.post("/control", json={"session": session, "secret": secret,
                                                  "action": "calibrate"})).status == 200
        # the performer ends: the session and its remaining viewer end
        assert (await http.delete(location)).status == 200
        assert await until(lambda: not app[MANAGER].sessions, 10)
        assert await until(lambda: not app[VIEWERS].viewers, 10)
        assert (await http.post(f"/whep/{stream}", data=await LoopbackViewer().offer(),
                                headers=SDP)).status == 404
        for v, _ in viewers:
            await v.close()
        await camera.close()

    run_app(app, body)


def test_the_performer_and_its_viewer_in_h264_share_the_streams_encoder(
        run_app, until, tiny_bundles, frames) -> None:
    """The one-connection path in H.264 (libx264 through the stream's encoder), with a
    WHEP viewer beside it in the codec its offer settles on: each decodes its own."""
    app = _app(tiny_bundles["fp16"], codec="H264")

    async def body(http, app) -> None:  # noqa: ANN001
        performer = LoopbackClient(frames, codec="H264")  # as a browser that sends H.264
        res = await http.post("/offer", json=await performer.offer())
        assert res.status == 200, await res.text()
        answer = await res.json()
        assert sent_codec(answer["sdp"]) == "video/h264"
        await performer.answer(answer)
        assert await until(lambda: len(performer.received) >= 5, 30)
        session = next(iter(app[MANAGER].sessions.values()))
        viewer, _ = await _watch(http, session.stream)
        assert await until(lambda: len(viewer.received) >= 5, 30)
        stats = (await (await http.get("/stats", headers={
            "X-Session-Secret": session.secret})).json())["sessions"][0]
        assert stats["viewers"] == 1  # the performer's own track is not counted
        codecs = {"video/h264", *(v["codec"] for v in stats["viewer_list"])}
        assert set(session.broadcast._encoders) == codecs  # one encoder per codec
        assert stats["frames_sent"] >= 5 and stats["stream_encode_ms"] is not None
        await viewer.close()
        await performer.close()

    run_app(app, body)


def test_whip_and_whep_refuse_bad_input_with_reasons(run_app, until, tiny_bundles,
                                                     frames, offer_sdp) -> None:
    app = _app(tiny_bundles["fp16"], max_sessions=1, max_viewers=1)

    async def reason(res, status: int) -> str:  # noqa: ANN001
        assert res.status == status, (res.status, await res.text())
        assert res.content_type == "application/json"
        return (await res.json())["error"]

    async def body(http, app) -> None:  # noqa: ANN001
        assert "application/sdp" in await reason(
            await http.post("/whip", json={"sdp": offer_sdp}), 415)
        assert "malformed" in await reason(
            await http.post("/whip", data="v=0\r\nm=video x", headers=SDP), 400)
        player = LoopbackViewer()
        assert "not sent" in await reason(
            await http.post("/whip", data=await player.offer(), headers=SDP), 400)
        await player.close()
        assert "unknown avatar" in await reason(
            await http.post("/whip/nobody", data=offer_sdp, headers=SDP), 404)
        assert "no live stream" in await reason(
            await http.post("/whep/nothing", data=offer_sdp, headers=SDP), 404)
        camera, res = await _publish(http, frames)
        stream, location = res.headers["Dancenow-Stream"], res.headers["Location"]
        busy = await http.post("/whip", data=offer_sdp, headers=SDP)
        assert "busy" in await reason(busy, 503) and busy.headers["Retry-After"]
        sender = LoopbackClient(frames, direction="sendonly")
        assert "does not receive" in await reason(await http.post(
            f"/whep/{stream}", data=(await sender.offer())["sdp"], headers=SDP), 400)
        await sender.close()
        viewer, _ = await _watch(http, stream)
        full = await http.post(f"/whep/{stream}", data=await LoopbackViewer().offer(),
                               headers=SDP)
        assert "viewer" in await reason(full, 503) and full.headers["Retry-After"]
        # trickle ICE on the resource
        frag = {"Content-Type": "application/trickle-ice-sdpfrag"}
        assert (await http.patch(location, data="a=candidate:1", headers=SDP)).status == 415
        assert "malformed candidate" in await reason(
            await http.patch(location, data="a=mid:0\r\na=candidate:1 1 udp 1\r\n",
                             headers=frag), 400)
        restart = "a=ice-ufrag:other\r\na=ice-pwd:passwordpasswordpassword1\r\n"
        assert "ICE restart" in await reason(
            await http.patch(location, data=restart, headers=frag), 422)
        candidate = ("a=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
                     "a=end-of-candidates\r\n")
        assert (await http.patch(location, data=candidate, headers=frag)).status == 204
        guessed = location[:-4] + "abcd"
        assert (await http.delete(guessed)).status == 404  # another resource's URL: unknown
        assert (await http.patch("/whep/resource/nope", data=candidate,
                                 headers=frag)).status == 404
        assert len(app[MANAGER].sessions) == 1
        # CORS preflight from an allowed origin: WHIP's Accept-Post
        own = str(http.make_url("/")).rstrip("/")
        pre = await http.options("/whip", headers={"Origin": own,
                                                   "Access-Control-Request-Method": "POST"})
        assert pre.status == 204 and pre.headers["Accept-Post"] == "application/sdp"
        assert "DELETE" in pre.headers["Access-Control-Allow-Methods"]
        await viewer.close()
        await camera.close()
        assert (await http.delete(location)).status in (200, 404)
        assert await until(lambda: not app[MANAGER].sessions, 10)

    run_app(app, body)


def test_tokens_ice_servers_and_the_access_log(run_app, until, tiny_bundles, frames,
                                               offer_sdp, caplog) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    opts = SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe"),
                          ice_servers=(IceServer("stun:127.0.0.1:3478"),
                                       IceServer("turn:127.0.0.1:3478", "user", "pass")))
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                 token=TOKEN, session=opts))
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def body(http, app) -> None:  # noqa: ANN001
        assert (await http.post("/whip", data=offer_sdp, headers=SDP)).status == 401
        assert (await http.get("/watch/anything")).status == 200  # the viewer page is public
        camera = LoopbackClient(frames, direction="sendonly")
        res = await http.post("/whip", data=(await camera.offer())["sdp"],
                              headers={**SDP, **auth})
        assert res.status == 201, await res.text()
        links = res.headers.getall("Link")
        assert '<stun:127.0.0.1:3478>; rel="ice-server"' in links
        assert any(link.startswith("<turn:127.0.0.1:3478>") and 'username="user"' in link
                   for link in links)
        await camera.answer({"sdp": await res.text(), "type": "answer"})
        location = res.headers["Location"]
        assert (await http.delete(location)).status == 401
        assert (await http.delete(location, headers=auth)).status == 200
        assert await until(lambda: not app[MANAGER].sessions, 10)
        await camera.close()

    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        from server import app as app_module

        run_app(app, body, **app_module.SERVER_SETTINGS)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "aiohttp.access")
    assert "DELETE /whip/resource/... " in logged
    resources = [r for r in logged.split() if r.startswith("/whip/resource/")]
    assert resources and all(r == "/whip/resource/..." for r in resources)


def test_a_viewer_that_never_connects_is_freed_after_the_timeout(run_app, until, tiny_bundles,
                                                                 frames) -> None:
    from benchmarks.session_client import without_candidates

    app = _app(tiny_bundles["fp16"], max_viewers=1, connect_timeout=1.0)

    async def body(http, app) -> None:  # noqa: ANN001
        camera, res = await _publish(http, frames)
        stream = res.headers["Dancenow-Stream"]
        silent = LoopbackViewer()
        offer = without_candidates(await silent.offer())
        assert (await http.post(f"/whep/{stream}", data=offer, headers=SDP)).status == 201
        assert len(app[VIEWERS].viewers) == 1  # holds the stream's only place...
        assert await until(lambda: not app[VIEWERS].viewers, 5)  # ...for the timeout only
        viewer, _ = await _watch(http, stream)  # the place is free again
        assert await until(lambda: len(viewer.received) >= 3, 30)
        await viewer.close()
        await silent.close()
        assert (await http.delete(res.headers["Location"])).status == 200
        await camera.close()

    run_app(app, body)
