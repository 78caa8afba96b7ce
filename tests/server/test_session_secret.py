"""Only the page that started a session may read it in full or control it.

Session ids are random, each session has a secret told in the offer's answer alone, and
`POST /control`, `POST /stats` need it (403 otherwise, alike for an unknown session);
`GET /stats` shows others in aggregate only, unless the server's token is given. The
access log leaves out the page's `?token=`."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiortc import RTCPeerConnection

from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from server import app as app_module
from server.app import MANAGER, ServeConfig, create_app
from server.session import Session, SessionOptions

TOKEN = "admin-token"
SECRET = "X-Session-Secret"


def _app(**kwargs) -> object:  # noqa: ANN003
    bundle = load_bundle(DEMO_LIVE_AVATAR)
    return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=2, **kwargs))


async def _answer_only(self: Session) -> None:
    """`Session.start` without its pipeline: the answer alone (enough for these checks)."""
    await self.pc.setLocalDescription(await self.pc.createAnswer())


async def _offer() -> tuple[RTCPeerConnection, dict]:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendrecv")
    pc.createDataChannel("control")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, {"sdp": pc.localDescription.sdp, "type": "offer"}


async def _two_sessions(http, headers: dict) -> tuple[list, list[dict]]:  # noqa: ANN001
    peers, answers = [], []
    for _ in range(2):
        pc, offer = await _offer()
        res = await http.post("/offer", json=offer, headers=headers)
        assert res.status == 200, await res.text()
        peers.append(pc)
        answers.append(await res.json())
    return peers, answers


def test_ids_are_random_and_each_session_has_its_own_secret() -> None:
    async def main() -> list[Session]:
        bundle = load_bundle(DEMO_LIVE_AVATAR)
        sessions = [Session({bundle.name: bundle}, bundle.name, SessionOptions())
                    for _ in range(3)]
        for s in sessions:
            await s.pc.close()
        return sessions

    sessions = asyncio.run(main())
    ids = {s.id for s in sessions}
    secrets = {s.secret for s in sessions}
    assert len(ids) == 3 and len(secrets) == 3 and not ids & secrets
    assert all(len(s.id) >= 20 and len(s.secret) >= 20 for s in sessions)
    first = sessions[0]
    assert first.owned_by(first.secret)
    assert not first.owned_by(sessions[1].secret)
    assert not first.owned_by(None) and not first.owned_by("") and not first.owned_by(5)


def test_controls_and_samples_need_the_sessions_secret(run_app, monkeypatch) -> None:
    monkeypatch.setattr(Session, "start", _answer_only)
    app = _app()

    async def body(http, app) -> None:  # noqa: ANN001
        peers, (a, b) = await _two_sessions(http, {})
        assert a["secret"] and a["secret"] != b["secret"] and a["session"] != b["session"]
        sessions = app[MANAGER].sessions
        forbidden = []
        for payload in ({"session": a["session"]},  # no secret
                        {"session": a["session"], "secret": b["secret"]},  # another's
                        {"session": a["session"], "secret": a["secret"] + "x"},
                        {"session": "s1", "secret": a["secret"]},  # no such session
                        {"secret": a["secret"]}):
            for path, extra in (("/control", {"action": "stop"}),
                                ("/stats", {"glass_to_glass_ms": [50]})):
                res = await http.post(path, json={**payload, **extra})
                assert res.status == 403, (path, payload, await res.text())
                forbidden.append((await res.json())["error"])
        assert len(set(forbidden)) == 1  # the same answer whether the session exists or not
        assert len(sessions) == 2 and not sessions[a["session"]].glass
        assert sessions[a["session"]].state != "closing"
        own = {"session": a["session"], "secret": a["secret"]}
        res = await http.post("/stats", json={**own, "glass_to_glass_ms": [50, 70]})
        assert res.status == 200
        assert list(sessions[a["session"]].glass) == [50.0, 70.0]
        assert (await http.post("/control", json={**own, "action": "calibrate"})).status == 200
        assert (await http.post("/control", json={**own, "action": "stop"})).status == 200
        for _ in range(50):
            if a["session"] not in sessions:
                break
            await asyncio.sleep(0.1)
        assert list(sessions) == [b["session"]]  # the other one goes on
        for pc in peers:
            await pc.close()

    run_app(app, body)


def test_statistics_show_others_in_aggregate_only(run_app, monkeypatch) -> None:
    monkeypatch.setattr(Session, "start", _answer_only)
    app = _app()

    async def body(http, app) -> None:  # noqa: ANN001
        peers, (a, b) = await _two_sessions(http, {})
        anyone = await (await http.get("/stats")).json()
        assert anyone["sessions"] == []
        assert anyone["summary"]["count"] == 2
        assert sum(anyone["summary"]["phases"].values()) == 2
        assert "fps_out" in anyone["summary"] and anyone["max_sessions"] == 2
        text = json.dumps(anyone)
        assert a["session"] not in text and b["session"] not in text
        by_id = await (await http.get(f"/stats?session={a['session']}")).json()
        assert by_id["sessions"] == []  # an id is not enough
        wrong = await (await http.get("/stats", headers={SECRET: "nope"})).json()
        assert wrong["sessions"] == []
        mine = await (await http.get("/stats", headers={SECRET: a["secret"]})).json()
        assert [s["id"] for s in mine["sessions"]] == [a["session"]]
        assert mine["summary"]["count"] == 2
        assert a["secret"] not in json.dumps(mine)  # never told again
        for pc in peers:
            await pc.close()

    run_app(app, body)


def test_the_server_token_sees_every_session_but_controls_none(run_app, monkeypatch) -> None:
    monkeypatch.setattr(Session, "start", _answer_only)
    app = _app(token=TOKEN)
    admin = {"Authorization": f"Bearer {TOKEN}"}

    async def body(http, app) -> None:  # noqa: ANN001
        peers, (a, b) = await _two_sessions(http, admin)
        seen = await (await http.get("/stats", headers=admin)).json()
        assert {s["id"] for s in seen["sessions"]} == {a["session"], b["session"]}
        res = await http.post("/control", json={"session": a["session"], "action": "stop"},
                              headers=admin)
        assert res.status == 403
        res = await http.post("/control", headers=admin, json={
            "session": a["session"], "secret": a["secret"], "action": "calibrate"})
        assert res.status == 200
        for pc in peers:
            await pc.close()

    run_app(app, body)


def test_the_access_log_leaves_out_query_strings(run_app, caplog: pytest.LogCaptureFixture) -> None:
    app = _app()
    caplog.set_level(logging.INFO, logger="aiohttp.access")

    async def body(http, app) -> None:  # noqa: ANN001
        res = await http.get("/?token=topsecret1")
        assert res.status == 200
        referer = f"http://{http.host}:{http.port}/?token=topsecret2#x"
        res = await http.get("/avatars?a=topsecret3", headers={"Referer": referer})
        assert res.status == 200

    run_app(app, body, **app_module.SERVER_SETTINGS)
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("GET / HTTP/1.1" in line for line in lines), lines
    assert any("GET /avatars HTTP/1.1" in line for line in lines), lines
    assert not any("topsecret" in line for line in lines), lines
