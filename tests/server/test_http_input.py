"""The HTTP routes against hostile input: origins, content types, malformed bodies and
offers, slow bodies. Every answer is a JSON 4xx with a reason, never a 500."""

from __future__ import annotations

import asyncio
import json
import re

from aiohttp.test_utils import TestClient, TestServer

from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from server import app as app_module
from server import http as http_module
from server.app import MANAGER, ServeConfig, create_app

JSON = {"Content-Type": "application/json"}


def _app(**kwargs) -> object:  # noqa: ANN003
    bundle = load_bundle(DEMO_LIVE_AVATAR)
    return create_app(ServeConfig(avatars={bundle.name: bundle}, **kwargs))


async def _error(res, status: int) -> str:  # noqa: ANN001
    assert res.status == status, (res.status, await res.text())
    assert res.content_type == "application/json", await res.text()
    reason = (await res.json())["error"]
    assert reason
    return reason


def test_origins_content_types_and_preflights(run_app) -> None:
    app = _app(allow_origins=("https://studio.example",))

    async def body(http, app) -> None:  # noqa: ANN001
        own = f"http://{http.host}:{http.port}"
        offer = json.dumps({"sdp": "x", "type": "offer"})
        # a cross-origin "simple" request (no preflight) is refused
        res = await http.post("/offer", data=offer,
                              headers={"Origin": "http://evil.example",
                                       "Content-Type": "text/plain"})
        await _error(res, 403)
        res = await http.post("/offer", data=offer,
                              headers={"Origin": "http://evil.example", **JSON})
        assert "not allowed" in await _error(res, 403)
        # the server's own origin, or none (curl), passes; text/plain does not
        res = await http.post("/offer", data=offer,
                              headers={"Origin": own, "Content-Type": "text/plain"})
        await _error(res, 415)
        res = await http.post("/offer", data=offer)  # bytes: application/octet-stream
        await _error(res, 415)
        for headers in ({"Origin": own, **JSON}, JSON,
                        {"Origin": "https://studio.example", **JSON},
                        {"Content-Type": "application/json; charset=utf-8"}):
            res = await http.post("/offer", data=offer, headers=headers)
            assert "video" in await _error(res, 400), headers  # got through to the offer
        assert res.headers.get("Access-Control-Allow-Origin") is None
        res = await http.get("/stats", headers={"Origin": "https://studio.example"})
        assert res.status == 200
        assert res.headers["Access-Control-Allow-Origin"] == "https://studio.example"
        # preflights: allowed origins get the CORS headers, others 403 without them
        ask = {"Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "content-type"}
        res = await http.options("/offer", headers={"Origin": "https://studio.example", **ask})
        assert res.status == 204
        assert res.headers["Access-Control-Allow-Origin"] == "https://studio.example"
        assert "POST" in res.headers["Access-Control-Allow-Methods"]
        assert "content-type" in res.headers["Access-Control-Allow-Headers"].lower()
        res = await http.options("/offer", headers={"Origin": "http://evil.example", **ask})
        await _error(res, 403)
        assert "Access-Control-Allow-Origin" not in res.headers
        assert not app[MANAGER].sessions

    run_app(app, body)


def test_bad_bodies_are_json_4xx(run_app, offer_sdp: str) -> None:
    app = _app()

    async def body(http, app) -> None:  # noqa: ANN001
        deep = "[" * 100_000 + "]" * 100_000
        deep_object = '{"a":' * 40_000 + "1" + "}" * 40_000
        for path in ("/offer", "/stats", "/control"):
            for text in (deep, deep_object, '{"session": ' + deep + "}"):
                assert "deep" in await _error(await http.post(path, data=text, headers=JSON),
                                              400), path
            await _error(await http.post(path, data=b"\xff\xfe{}", headers=JSON), 400)
            await _error(await http.post(path, data='{"x": NaN}', headers=JSON), 400)
            # too large: JSON, not aiohttp's plain text
            big = json.dumps({"sdp": "v" * (app_module.MAX_BODY + 10)})
            await _error(await http.post(path, data=big, headers=JSON), 413)
        # wrong method: JSON, with the Allow header kept
        res = await http.put("/offer", data="{}", headers=JSON)
        await _error(res, 405)
        assert "POST" in res.headers["Allow"]
        await _error(await http.get("/nowhere"), 404)
        # statistics: big and boolean samples, a session that is not a string
        huge = '{"session": "s", "glass_to_glass_ms": [' + "9" * 400 + "]}"
        assert "glass_to_glass_ms" in await _error(
            await http.post("/stats", data=huge, headers=JSON), 400)
        for samples in ([True], [False, 3], [1e308 * 10], [float("nan")], ["1"], 5,
                        [1] * 5000):
            payload = json.dumps({"session": "s", "glass_to_glass_ms": samples})
            reason = await _error(await http.post("/stats", data=payload, headers=JSON), 400)
            assert "glass_to_glass_ms" in reason or "not a JSON number" in reason, samples
        for payload in ({"session": ["s"]}, {"session": {"a": 1}}):
            await _error(await http.post("/stats", data=json.dumps(payload), headers=JSON), 400)
        await _error(await http.post("/control", json={"session": "s", "action": []}), 400)
        # avatars that are not names
        for avatar in (["demo-live"], {"a": 1}, 5):
            res = await http.post("/offer", json={"sdp": offer_sdp, "type": "offer",
                                                  "avatar": avatar})
            assert "avatar" in await _error(res, 400)
        # static files: a NUL, over-long names
        for path in ("/static/app.js%00", "/static/" + "a" * 300,
                     "/static/" + "/".join(["a" * 200] * 10), "/static/" + "x" * 5000):
            await _error(await http.get(path), 404)
        assert (await http.get("/static/app.js")).status == 200
        assert not app[MANAGER].sessions

    run_app(app, body)


def _without(sdp: str, pattern: str) -> str:
    return "".join(line for line in sdp.splitlines(keepends=True)
                   if not re.match(pattern, line))


def _av1_only(sdp: str) -> str:
    """The offer with AV1 as its video section's only codec."""
    lines, video = [], False
    for line in sdp.splitlines(keepends=True):
        if line.startswith("m="):
            video = line.startswith("m=video")
            if video:
                lines.extend([" ".join(line.split()[:3]) + " 45\r\n"])
                continue
        if video and line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
            continue
        lines.append(line)
        if video and line.startswith("a=mid:"):
            lines.append("a=rtpmap:45 AV1/90000\r\n")
    return "".join(lines)


def test_unusable_offers_are_400_before_any_peer(run_app, offer_sdp: str, monkeypatch) -> None:
    app = _app()
    made: list[object] = []
    monkeypatch.setattr(app[MANAGER], "open", lambda *a: made.append(a))

    async def body(http, app) -> None:  # noqa: ANN001
        cases = {
            "no rtpmap": (_without(offer_sdp, r"a=(rtpmap|fmtp|rtcp-fb):"), "codec"),
            "AV1 only": (_av1_only(offer_sdp), "codec"),
            "no ice-ufrag": (_without(offer_sdp, r"a=ice-ufrag:"), "ice"),
            "no ice-pwd": (_without(offer_sdp, r"a=ice-pwd:"), "ice"),
            "no fingerprint": (_without(offer_sdp, r"a=fingerprint:"), "fingerprint"),
            "no rtcp-mux": (_without(offer_sdp, r"a=rtcp-mux"), "rtcp-mux"),
            "too big": (offer_sdp + "a=x:" + "y" * 70_000 + "\r\n", "characters"),
            "many sections": (offer_sdp + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n" * 20,
                              "media sections"),
        }
        assert "AV1" in cases["AV1 only"][0] and "VP8" not in cases["AV1 only"][0]
        for name, (sdp, needle) in cases.items():
            res = await http.post("/offer", json={"sdp": sdp, "type": "offer"})
            assert needle in await _error(res, 400), name
        assert not made  # no peer connection was made for any of them

    run_app(app, body)


def test_slow_bodies_time_out_and_are_capped(run_app, monkeypatch) -> None:
    monkeypatch.setattr(http_module, "BODY_TIMEOUT", 0.5)
    monkeypatch.setattr(http_module, "MAX_PENDING_BODIES", 3)
    app = _app()

    async def body(http, app) -> None:  # noqa: ANN001
        host, port = http.host, http.port
        head = (f"POST /stats HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{").encode()

        async def half_sent() -> tuple[bytes, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(head)
            await writer.drain()
            return reader, writer

        slow = [await half_sent() for _ in range(3)]
        await asyncio.sleep(0.1)
        # a fourth while three are on their way: refused at once
        reader, writer = await half_sent()
        answer = await asyncio.wait_for(reader.read(), 2.0)
        assert answer.startswith(b"HTTP/1.1 503") and b'"error"' in answer
        writer.close()
        for reader, writer in slow:  # the three: 408 within the timeout, connection closed
            answer = await asyncio.wait_for(reader.read(), 3.0)
            assert answer.startswith(b"HTTP/1.1 408") and b'"error"' in answer, answer
            writer.close()
        assert not app[app_module.PENDING]
        assert (await http.get("/stats")).status == 200  # still serving

    run_app(app, body)


def test_unfinished_request_heads_are_dropped() -> None:
    settings = app_module.SERVER_SETTINGS
    assert 0 < settings["keepalive_timeout"] <= 30 and 0 < settings["lingering_time"] <= 5
    app = _app()

    async def main() -> None:
        quick = {**settings, "keepalive_timeout": 0.5}  # the same settings, sooner
        server = TestServer(app)
        await server.start_server(**quick)
        async with TestClient(server) as http:
            reader, writer = await asyncio.open_connection(http.host, http.port)
            writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
            writer.write(b"GET /stats HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # never ends
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), 3.0)  # the server hangs up
            assert b"HTTP/1.1" not in rest
            writer.close()
            reader, writer = await asyncio.open_connection(http.host, http.port)
            writer.write(b"POST /offer HTTP/1.1\r\nHost: x\r\n")  # a new one, never ends
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 3.0) == b""
            writer.close()
            assert (await http.get("/stats")).status == 200
    asyncio.run(main())


def test_an_offer_the_peer_connection_refuses_is_a_400(run_app, offer_sdp: str,
                                                       monkeypatch) -> None:
    from aiortc.exceptions import OperationError

    app = _app()

    async def refuse(*args) -> None:  # noqa: ANN002
        raise OperationError("Failed to set remote video description send parameters")
    monkeypatch.setattr(app[MANAGER], "open", refuse)

    async def body(http, app) -> None:  # noqa: ANN001
        res = await http.post("/offer", json={"sdp": offer_sdp, "type": "offer"})
        assert "OperationError" in await _error(res, 400)

    run_app(app, body)
