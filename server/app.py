"""The aiohttp application: the page, signalling, statistics and controls.

Routes:

* `GET /` and `GET /static/...`: the page (files of `server/static` only);
* `GET /avatars`: the avatars served;
* `POST /offer`: `{"sdp", "type": "offer"[, "avatar"]}` -> `{"sdp", "type": "answer",
  "session"}` (400 with `{"error"}` for a malformed or video-less offer, 503 when
  `max_sessions` are live);
* `GET /stats`: per session: input and output fps, dropped frames, per-stage latency
  p50/p95, glass-to-glass p50/p95, the tracking mode (`mode`: "full", "upper" or
  "none", of the newest avatar frame); `POST /stats`: `{"session", "glass_to_glass_ms": [...]}`
  from the page;
* `POST /control`: `{"session", "action": "calibrate"|"reset"|"stop"}`.

Within a session, its `control` data channel carries the camera frame rate to send, the
tracking mode and the overlay's poses (`server.session`).

With a token, every route but the page and its files needs `Authorization: Bearer T`
(401 otherwise).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from aiortc import RTCSessionDescription

from engine.avatar import AvatarBundle
from engine.errors import InputError
from server.session import SessionManager, SessionOptions

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_BODY = 256 * 1024
MANAGER = web.AppKey("manager", SessionManager)
CONFIG = web.AppKey("config", object)


@dataclass(frozen=True)
class ServeConfig:
    avatars: dict[str, AvatarBundle] = field(default_factory=dict)  # name -> bundle
    max_sessions: int = 2
    token: str | None = None
    session: SessionOptions = SessionOptions()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _auth(request: web.Request, handler):  # noqa: ANN001, ANN202
    token = request.app[CONFIG].token
    public = request.path == "/" or request.path.startswith("/static/")
    if token and not public:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "missing or wrong token (Authorization: Bearer ...)")
    return await handler(request)


async def _json_body(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY,
                                            actual_size=request.content_length)
    try:
        body = json.loads(await request.text())
    except ValueError as exc:
        raise InputError(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    return body


def _check_sdp(sdp: str) -> None:
    """Parse the offer before any session is made for it; InputError when unusable."""
    from aiortc.sdp import SessionDescription

    try:  # aiortc's parser asserts on malformed lines rather than raising ValueError
        parsed = SessionDescription.parse(sdp)
    except (AssertionError, ValueError, KeyError, IndexError) as exc:
        raise InputError(f"malformed offer SDP ({type(exc).__name__}: {exc})") from exc
    if not any(m.kind == "video" for m in parsed.media):
        raise InputError("the offer has no video: send the camera's track")


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path)


async def avatars(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    return web.json_response([{"name": n, "resolution": b.resolution}
                              for n, b in cfg.avatars.items()])


async def offer(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    try:
        body = await _json_body(request)
        sdp, kind = body.get("sdp"), body.get("type")
        if not isinstance(sdp, str) or kind != "offer":
            raise InputError('expected {"sdp": "...", "type": "offer"}')
        _check_sdp(sdp)
        avatar = body.get("avatar") or next(iter(manager.avatars))
        if avatar not in manager.avatars:
            raise InputError(f"unknown avatar {avatar!r}; serving {', '.join(manager.avatars)}")
    except InputError as exc:
        return _error(400, str(exc))
    if manager.full:
        return _error(503, f"the server is busy: {manager.max_sessions} session(s) live")
    try:
        session = await manager.open(RTCSessionDescription(sdp=sdp, type=kind), avatar)
    except InputError as exc:
        return _error(400, str(exc))
    answer = session.pc.localDescription
    return web.json_response({"sdp": answer.sdp, "type": answer.type, "session": session.id,
                              "avatar": avatar})


def _session(request: web.Request, body: dict):  # noqa: ANN202
    manager = request.app[MANAGER]
    session = manager.sessions.get(str(body.get("session")))
    if session is None:
        raise InputError(f"no live session {body.get('session')!r}")
    return session


async def stats(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    return web.json_response({"sessions": [s.stats() for s in manager.sessions.values()],
                              "max_sessions": manager.max_sessions})


async def post_stats(request: web.Request) -> web.Response:
    try:
        body = await _json_body(request)
        session = _session(request, body)
        samples = body.get("glass_to_glass_ms", [])
        if not isinstance(samples, list) or not all(isinstance(s, int | float)
                                                    for s in samples):
            raise InputError("glass_to_glass_ms must be a list of numbers")
        session.add_glass_to_glass(samples)
    except InputError as exc:
        return _error(400, str(exc))
    return web.json_response({"ok": True})


async def control(request: web.Request) -> web.Response:
    try:
        body = await _json_body(request)
        _session(request, body).control(str(body.get("action")))
    except InputError as exc:
        return _error(400, str(exc))
    return web.json_response({"ok": True})


async def _shutdown(app: web.Application) -> None:
    await app[MANAGER].close_all()


def create_app(config: ServeConfig) -> web.Application:
    if not config.avatars:
        raise InputError("serve at least one avatar")
    if config.max_sessions < 1:
        raise InputError("--max-sessions must be at least 1")
    app = web.Application(middlewares=[_auth], client_max_size=MAX_BODY)
    app[CONFIG] = config
    app[MANAGER] = SessionManager(config.avatars, config.max_sessions, config.session)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name:.+}", static)
    app.router.add_get("/avatars", avatars)
    app.router.add_post("/offer", offer)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats", post_stats)
    app.router.add_post("/control", control)
    app.on_shutdown.append(_shutdown)
    return app
