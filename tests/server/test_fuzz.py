"""Fuzzing of the HTTP routes and of offers' SDP with a fixed seed.

A corpus of malformed, truncated, oversized and mutated offers, JSON bodies and paths is
generated here (`CASES` in all); every answer must be a 2xx or a 4xx (JSON with a reason
for the 4xx), never a 5xx, and afterwards the server still serves a real session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient, TestServer

from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from engine.pipeline import PipelineConfig
from server.app import MANAGER, ServeConfig, create_app
from server.http import VIEWERS
from server.loopback import LoopbackClient, performer_frames
from server.session import SessionOptions

log = logging.getLogger(__name__)
SEED = 20261201
CASES = 400  # total requests: SDP_CASES + WHIP_CASES offers, the rest JSON bodies and paths
SDP_CASES = 150  # mutated offers in JSON to /offer
WHIP_CASES = 100  # mutated offers as application/sdp to /whip, /whip/<avatar>, /whep/<stream>
JSON_HEADERS = {"Content-Type": "application/json"}
TOKENS = ["", "0", "-1", "99999999999999999999", "x" * 300, "\x00", "é", "💃", ":", " ",
          "UDP/TLS/RTP/SAVPF", "video", "audio", "application", "96", "VP8/90000",
          "H264/90000", "AV1/90000", "sha-256", "actpass", "IN IP4 0.0.0.0", "%", "\t"]


def _mutate_sdp(rng: random.Random, sdp: str) -> str:
    """One to three random mutations of an offer's SDP."""
    lines = sdp.splitlines()
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(10)
        i = rng.randrange(len(lines)) if lines else 0
        if kind == 0 and lines:  # drop a line
            del lines[i]
        elif kind == 1 and lines:  # duplicate a line
            lines.insert(i, lines[i])
        elif kind == 2 and lines:  # swap two lines
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 3 and lines:  # replace a field of a line
            fields = lines[i].split(" ")
            fields[rng.randrange(len(fields))] = rng.choice(TOKENS)
            lines[i] = " ".join(fields)
        elif kind == 4 and lines:  # cut a line short
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)]
        elif kind == 5:  # a garbage attribute or media line
            lines.insert(i, rng.choice(["a=", "m=", "c=", "a=rtpmap:", "a=fmtp:",
                                        "a=ssrc:", "a=candidate:", "a=extmap:"])
                         + " ".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 6))))
        elif kind == 6 and lines:  # flip characters
            chars = list(lines[i])
            for _ in range(rng.randint(1, 4)):
                if chars:
                    chars[rng.randrange(len(chars))] = chr(rng.randrange(32, 0x3000))
            lines[i] = "".join(chars)
        elif kind == 7:  # drop every line of one attribute
            name = rng.choice(["a=rtpmap", "a=ice-ufrag", "a=ice-pwd", "a=fingerprint",
                               "a=setup", "a=mid", "a=rtcp-mux", "m=video", "m=application",
                               "a=group", "a=sctp-port", "c=", "a=ssrc"])
            lines = [ln for ln in lines if not ln.startswith(name)]
        elif kind == 8:  # truncate the whole text
            text = "\r\n".join(lines)
            lines = text[:rng.randrange(len(text) + 1)].splitlines()
        else:  # many or big media sections
            block = [ln for ln in sdp.splitlines() if ln.startswith("m=video")][:1]
            lines.extend(block * rng.choice([2, 9, 40]) if rng.random() < 0.5
                         else ["a=x:" + "y" * rng.choice([1000, 70_000])])
    sep = rng.choice(["\r\n", "\n", "\r\n", "\r\n"])
    return sep.join(lines) + sep


def _random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1.5, 10 ** rng.randrange(1, 400), -(10 ** 30), 1e308])
    if kind == 2:
        return rng.choice(TOKENS)
    if kind == 3:
        return rng.choice(["offer", "answer", "calibrate", "reset", "stop", "demo-live"])
    if kind == 4:
        return [rng.choice([1, 2.5, True, "x", None]) for _ in range(rng.randrange(5))]
    if kind == 5:
        return rng.random() * 200
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["sdp", "type", "session", "a"]): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(3))}


def _json_case(rng: random.Random, sdp: str) -> tuple[str, str, bytes, dict]:
    """(method, path, body, headers) of a random JSON or path case."""
    kind = rng.randrange(8)
    path = rng.choice(["/offer", "/stats", "/control", "/whip", "/whip/resource/x"])
    keys = ["sdp", "type", "avatar", "session", "action", "glass_to_glass_ms"]
    if kind <= 2:  # an object with random values under the routes' keys
        body = {k: _random_json(rng) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        if kind == 2:
            body.update(sdp=sdp, type="offer")
        text = json.dumps(body).encode()
    elif kind == 3:  # truncated JSON
        text = json.dumps({"sdp": sdp, "type": "offer"}).encode()
        text = text[:rng.randrange(len(text))]
    elif kind == 4:  # deep or wide nesting
        n = rng.choice([50, 1000, 100_000])
        text = ('{"session": ' + "[" * n + "]" * n + "}").encode()
    elif kind == 5:  # invalid UTF-8, NaN, control characters, oversized
        text = rng.choice([b"\xff\xfe\xfd", b'{"x": NaN}', b'{"x": -Infinity}',
                           b'{"sdp": "\x00"}', b"{" + b" " * 300_000 + b"}", b"",
                           b'{"a": 1, "a": 2}', b'"string"', b"null"])
    elif kind == 6:  # a wrong content type or method
        headers = rng.choice([{"Content-Type": "text/plain"}, {"Content-Type": "x/y"},
                              {"Origin": "http://evil.example", **JSON_HEADERS}, {}])
        return rng.choice(["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]), path, b"{}", headers
    else:  # odd paths
        name = "".join(rng.choice("aZ./%0_-~:\\") for _ in range(rng.randrange(1, 40)))
        name = rng.choice([name, name * 50, "app.js%00", "%2e%2e/app.py", "x" * 300,
                           "a/" * 200, "%ff", "..%5c..%5capp.py"])
        return "GET", rng.choice(["/static/", "/", "/avatars/", "/stats/"]) + name, b"", {}
    return "POST", path, text, dict(JSON_HEADERS)


def test_fuzzed_requests_never_reach_a_500_and_a_session_still_works(until, offer_sdp: str) -> None:
    bundle = load_bundle(DEMO_LIVE_AVATAR)
    opts = SessionOptions(pipeline=PipelineConfig(pose_backend="mediapipe"))
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=2,
                                 session=opts))
    rng = random.Random(SEED)
    cases: list[tuple[str, str, bytes, dict]] = []
    for _ in range(SDP_CASES):
        body = {"sdp": _mutate_sdp(rng, offer_sdp), "type": "offer"}
        cases.append(("POST", "/offer", json.dumps(body).encode(), dict(JSON_HEADERS)))
    for _ in range(WHIP_CASES):
        path = rng.choice(["/whip", "/whip", f"/whip/{bundle.name}", "/whep/nostream"])
        kind = rng.choice(["application/sdp"] * 4 + ["text/plain", "application/json"])
        cases.append(("POST", path, _mutate_sdp(rng, offer_sdp).encode(),
                      {"Content-Type": kind}))
    while len(cases) < CASES:
        cases.append(_json_case(rng, offer_sdp))
    outcomes: Counter[int] = Counter()

    async def body(http: TestClient) -> None:
        manager = app[MANAGER]
        for i, (method, path, data, headers) in enumerate(cases):
            res = await http.request(method, path, data=data, headers=headers)
            text = await res.text()
            outcomes[res.status] += 1
            assert res.status < 500, (i, method, path, data[:300], res.status, text[:500])
            if res.status >= 400:
                assert "error" in json.loads(text), (i, path, text[:200])
            if manager.sessions:  # a mutated offer that still works: end it
                await manager.close_all()
            await app[VIEWERS].close_all()
        log.info("fuzz: %d cases, answers %s", len(cases), dict(sorted(outcomes.items())))
        await _a_real_session_works(http, until)

    async def main() -> None:
        async with TestClient(TestServer(app)) as http:
            await body(http)
    asyncio.run(main())
    print(f"fuzz corpus: {len(cases)} cases (seed {SEED}); answers by status: "
          f"{dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == CASES
    # most mutated offers are refused, with a reason
    assert outcomes[400] > (SDP_CASES + WHIP_CASES) // 2


async def _a_real_session_works(http: TestClient,
                                until: Callable[..., Awaitable[bool]]) -> None:
    client = LoopbackClient([f for f, _ in performer_frames()])
    try:
        res = await http.post("/offer", json=await client.offer())
        assert res.status == 200, await res.text()
        await client.answer(await res.json())
        assert await until(lambda: len(client.received) >= 3, 30.0), "no avatar frames"
    finally:
        await client.close()

