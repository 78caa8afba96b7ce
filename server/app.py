"""The aiohttp application: the page, signalling, statistics and controls.

Routes:

* `GET /` and `GET /static/...`: the page (files of `server/static` only);
* `GET /avatars`: the avatars served, each with its `resolution`, `description` and
  `poster` (the URL of its poster image, or null); `GET /avatars/<name>/poster`: that
  image (the one file the avatar's manifest names as its poster, nothing else of the
  bundle; 404 for an unknown avatar or one without a poster);
* `POST /offer`: `{"sdp", "type": "offer"[, "avatar"]}` -> `{"sdp", "type": "answer",
  "session", "secret", "stream"}` (400 with `{"error"}` for a malformed or video-less
  offer, 503 with `Retry-After` when `max_sessions` are live); the session's id is
  random, and its secret is told in this answer only;
* `GET /stats`: `summary` (all sessions in aggregate: `count`, `phases` (sessions per
  state), `fps_out` (their output frames a second together) and `viewers` (WHEP viewers
  of every stream)), `max_sessions`, `capacity` (how that number was found: measured at
  start, `server.capacity`, or configured), `cpu_sets` (for the server's token: the
  CPUs each session has to itself, where there are enough), and
  `sessions`: in full, the session whose secret the `X-Session-Secret` header carries, or
  every session for the server's token (when one is configured): input and output fps,
  dropped frames, per-stage latency p50/p95, glass-to-glass p50/p95, the tracking mode
  (`mode`: "full", "upper" or "none", of the newest avatar frame), its stream and its
  viewers (`viewer_list`); `POST /stats`:
  `{"session", "secret", "glass_to_glass_ms": [...]}` from the page;
* `POST /control`: `{"session", "secret", "action": "calibrate"|"reset"|"stop"}`, or
  `{"session", "secret", "predict": "auto"|"off"|MS}` (the pose prediction);
* WHIP, WHEP and the viewer page: `server.whip`.

With `ServeConfig.cluster` the sessions run on the nodes of a Ray cluster
(`server.cluster.ClusterManager` in place of the local `SessionManager`): `GET /stats`
then also gives `nodes` (per node its slots, sessions and free slots), each session its
`node`, and a session whose node failed stays in it for its page a while, with `ended`
(the message to show); `/control` and `POST /stats` for it answer 410 with that message.

`POST /stats` and `POST /control` answer 403 unless `secret` is the session's secret, the
same for a session that does not exist.

Within a session, its `control` data channel carries the camera frame rate to send, the
tracking mode and the overlay's poses (`server.session`).

With a token, every route but the page and its files needs `Authorization: Bearer T`
(401 otherwise). The access log leaves out query strings (the page's `?token=`), also in
the Referer it logs (`AccessLog`).

Every error is JSON, `{"error": reason}`. The POST routes take `Content-Type:
application/json` only (415 otherwise), so that a cross-origin page cannot send them
without a CORS preflight; a request whose `Origin` is neither the server's own
(scheme://host:port of its `Host`) nor one of `allow_origins` gets 403, and a preflight
(OPTIONS) is answered with the CORS headers for allowed origins only. A body must arrive
within `BODY_TIMEOUT` seconds (408 otherwise) and at most `MAX_PENDING_BODIES` may be on
their way at once (503 for more); `SERVER_SETTINGS` bounds the wait for a request's head.
Offers are checked by `server.validate` before any peer is made for them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from aiohttp import web
from aiohttp.web_log import AccessLogger

from engine.avatar import POSTER_TYPES, AvatarBundle
from engine.errors import InputError
from engine.pipeline.affinity import CpuSetPool, available_cpus, session_cpu_sets
from engine.threadnames import named_executor
from server import validate, whip
from server.capacity import Capacity, configured
from server.http import (
    CONFIG,
    JSON_TYPE,
    MANAGER,
    MAX_BODY,
    PENDING,
    STATIC,
    VIEWERS,
    error,
    open_session,
    read_json,
)
from server.session import (
    Session,
    SessionManager,
    SessionOptions,
)
from server.viewer import ViewerManager
from server.whip import SDP_TYPE

log = logging.getLogger(__name__)
CAPACITY = web.AppKey("capacity", Capacity)  # the sessions admitted and how it was found

CORS_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
IO_POOL = "dancenow-io"  # the name of the threads of the server's pool for blocking work
SECRET_HEADER = "X-Session-Secret"  # a session's secret, to read its statistics in full
CORS_HEADERS = f"Content-Type, Authorization, {SECRET_HEADER}"
FORBIDDEN = "unknown session or wrong secret (send the secret of the offer's answer)"


_RESOURCE = re.compile(r"^(/whi[pe]/resource/)[^/]+")


def _without_query(url: str) -> str:
    """`url` without its query string and fragment, and with a WHIP or WHEP resource's
    name (its capability) left out."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    return _RESOURCE.sub(r"\1...", path)


class AccessLog(AccessLogger):
    """aiohttp's access log, but paths and the Referer header are logged without their
    query strings: the page's URL may carry the server's token (`?token=`)."""

    def _format_line(self, request: web.BaseRequest, response: web.StreamResponse,
                     time: float) -> Iterable[tuple[str | tuple[str, str], str]]:
        """The logged values, each with its query string left out."""
        line = []
        for key, value in super()._format_line(request, response, time):
            if key == "first_request_line" and request is not None:
                version = f"HTTP/{request.version.major}.{request.version.minor}"
                value = f"{request.method} {_without_query(request.raw_path)} {version}"
            elif isinstance(key, tuple) and key[1].lower() == "referer":
                value = _without_query(value)
            line.append((key, value))
        return line


# aiohttp's server settings for `web.run_app`: an idle or new connection that has not sent
# a whole request head within keepalive_timeout is closed (aiohttp's default is an hour),
# and the rest of an unread body is awaited for lingering_time at most; the access log
# leaves out query strings
SERVER_SETTINGS = {"keepalive_timeout": 15.0, "lingering_time": 2.0,
                   "access_log_class": AccessLog}


@dataclass(frozen=True)
class ServeConfig:
    avatars: dict[str, AvatarBundle] = field(default_factory=dict)  # name -> bundle
    max_sessions: int = 2
    token: str | None = None
    session: SessionOptions = SessionOptions()
    allow_origins: tuple[str, ...] = ()  # cross-origin pages allowed, "scheme://host[:port]"
    max_viewers: int = 8  # WHEP viewers per stream
    capacity: Capacity | None = None  # how max_sessions was found (None: configured)
    # "auto" or a Ray address: sessions run on the nodes of that cluster (server.cluster);
    # None: on this machine, and Ray is never imported
    cluster: str | None = None


# the ClusterManager when the sessions run on a Ray cluster (also app[MANAGER]), else None
CLUSTER = web.AppKey("cluster", object)


@web.middleware
async def _json_errors(request: web.Request, handler):  # noqa: ANN001, ANN202
    """aiohttp's own error answers (404, 405, 408, 413, ...) as JSON like the others."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        reason = (exc.text or exc.reason or "").strip()
        response = web.json_response({"error": reason}, status=exc.status, headers=headers)
        if exc.status in (408, 413, 503) and request.can_read_body:
            # the rest of the body may never come: answer, then hang up at once rather
            # than wait for it (aiohttp would linger for it)
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            if request.transport is not None:
                request.transport.close()  # sends what is buffered first
        return response


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}".lower()


def _origin_allowed(request: web.Request, origin: str) -> bool:
    origin = origin.strip().rstrip("/").lower()
    allowed = {o.strip().rstrip("/").lower() for o in request.app[CONFIG].allow_origins}
    return origin == _own_origin(request) or origin in allowed


def _cors(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"


def _speaks_sdp(request: web.Request) -> bool:
    """WHIP and WHEP routes, which take SDP bodies (and check their types themselves)."""
    return request.path.startswith(("/whip", "/whep"))


@web.middleware
async def _origin(request: web.Request, handler):  # noqa: ANN001, ANN202
    """Same-origin or allowed origins only; CORS preflights answered for those alone."""
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        if origin is None or not _origin_allowed(request, origin):
            return error(403, f"origin {origin!r} is not allowed (see --allow-origin)")
        response = web.Response(status=204)
        _cors(response, origin)
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        if _speaks_sdp(request):
            response.headers["Accept-Post"] = SDP_TYPE
        return response
    if origin is not None and not _origin_allowed(request, origin):
        return error(403, f"origin {origin!r} is not allowed (see --allow-origin)")
    if request.method == "POST" and request.content_type != JSON_TYPE \
            and not _speaks_sdp(request):
        return error(415, f"send the body as {JSON_TYPE}")
    response = await handler(request)
    if origin is not None and origin.strip().rstrip("/").lower() != _own_origin(request):
        _cors(response, origin)
    return response


def _has_token(request: web.Request) -> bool:
    """Whether a server token is configured and the request carries it."""
    token = request.app[CONFIG].token
    if not token:
        return False
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@web.middleware
async def _auth(request: web.Request, handler):  # noqa: ANN001, ANN202
    token = request.app[CONFIG].token
    public = request.path == "/" or request.path.startswith(("/static/", "/watch/"))
    if token and not public and not _has_token(request):
        return error(401, "missing or wrong token (Authorization: Bearer ...)")
    return await handler(request)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not validate.static_name(name):
        raise web.HTTPNotFound()
    try:
        path = (STATIC / name).resolve()
        found = path.is_relative_to(STATIC) and path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


async def avatars(request: web.Request) -> web.Response:
    cfg = request.app[CONFIG]
    return web.json_response([
        {"name": n, "resolution": b.resolution, "description": b.description,
         "poster": f"/avatars/{quote(n, safe='')}/poster" if b.poster else None}
        for n, b in cfg.avatars.items()])


async def poster(request: web.Request) -> web.FileResponse:
    """An avatar's poster image: only the file its manifest names (`AvatarBundle.poster`)."""
    bundle = request.app[CONFIG].avatars.get(request.match_info["name"])
    path = bundle.poster if bundle is not None else None
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={
        "Content-Type": POSTER_TYPES[path.suffix.lower()],
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})


async def offer(request: web.Request) -> web.Response:
    manager = request.app[MANAGER]
    try:
        body = await read_json(request)
        sdp, kind = body.get("sdp"), body.get("type")
        if not isinstance(sdp, str) or kind != "offer":
            raise InputError('expected {"sdp": "...", "type": "offer"}')
        validate.check_offer_sdp(sdp)
        avatar = validate.optional_string(body, "avatar") or next(iter(manager.avatars))
        if avatar not in manager.avatars:
            raise InputError(f"unknown avatar {avatar!r}; serving {', '.join(manager.avatars)}")
    except InputError as exc:
        return error(400, str(exc))
    session = await open_session(manager, sdp, avatar, "offer")
    if isinstance(session, web.Response):
        return session
    answer = session.pc.localDescription
    return web.json_response({"sdp": answer.sdp, "type": answer.type, "session": session.id,
                              "secret": session.secret, "avatar": avatar,
                              "stream": session.stream})


def _session(request: web.Request, body: dict) -> Session | None:
    """The session `body` names, if `body` carries its secret; None otherwise, alike for
    a session that does not exist (InputError for fields that are not strings)."""
    name = validate.optional_string(body, "session")
    secret = validate.optional_string(body, "secret")
    session = request.app[MANAGER].sessions.get(name) if name is not None else None
    if session is None or not session.owned_by(secret):
        return None
    return session


def _refused(request: web.Request, body: dict) -> web.Response:
    """403 for an unknown session or a wrong secret; 410 with the reason for a session
    whose node failed (on a cluster), so that its page can tell the performer."""
    cluster = request.app[CLUSTER]
    ended = cluster.ended.get(body.get("session"), body.get("secret")) if cluster else None
    if ended is not None:
        return error(410, ended["ended"])
    return error(403, FORBIDDEN)


def _summary(sessions: list[dict]) -> dict:
    """All sessions in aggregate: how many, how many per state, their output fps."""
    return {"count": len(sessions), "phases": dict(Counter(s["phase"] for s in sessions)),
            "fps_out": round(sum(s.get("fps_out") or 0.0 for s in sessions), 1)}


async def stats(request: web.Request) -> web.Response:
    """Every session in aggregate; in full the one whose secret the request carries, or
    all of them for the server's token."""
    manager = request.app[MANAGER]
    everyone = list(manager.sessions.values())
    if _has_token(request):
        shown = everyone
    else:
        secret = request.headers.get(SECRET_HEADER)
        shown = [s for s in everyone if secret and s.owned_by(secret)]
    full = {s.id: s.stats() for s in everyone}
    viewers = list(request.app[VIEWERS].viewers.values())
    for session in shown:  # its viewers, in full, for those who may see the session
        full[session.id]["viewer_list"] = [v.stats() for v in viewers
                                           if v.stream == session.stream]
    summary = {**_summary(list(full.values())), "viewers": len(viewers)}
    answer = {"summary": summary, "sessions": [full[s.id] for s in shown],
              "max_sessions": manager.max_sessions,
              "capacity": request.app[CAPACITY].to_json(),
              "cpu_sets": manager.cpu_sets.held() if _has_token(request) else None}
    cluster = request.app[CLUSTER]
    if cluster is not None:  # every node, and the sessions whose node failed
        answer["nodes"] = cluster.node_table()
        answer["sessions"] += cluster.ended.for_secret(request.headers.get(SECRET_HEADER))
    return web.json_response(answer)


async def post_stats(request: web.Request) -> web.Response:
    """Glass-to-glass samples from the page of a session (with its secret)."""
    try:
        body = await read_json(request)
        samples = validate.latency_samples(body.get("glass_to_glass_ms", []))
        session = _session(request, body)
        if session is None:
            return _refused(request, body)
        session.add_glass_to_glass(samples)
    except InputError as exc:
        return error(400, str(exc))
    return web.json_response({"ok": True})


async def control(request: web.Request) -> web.Response:
    """Calibrate, reset or stop a session, or set its pose prediction (with its secret)."""
    try:
        body = await read_json(request)
        action = None if "predict" in body else validate.optional_string(body, "action")
        session = _session(request, body)
        if session is None:
            return _refused(request, body)
        if action is None:
            session.set_predict(body["predict"])
        else:
            session.control(str(action))
    except InputError as exc:
        return error(400, str(exc))
    return web.json_response({"ok": True})


def io_workers(max_sessions: int) -> int:
    """Threads of the server's pool for blocking work (converting camera frames, loading
    and closing pipelines): two per session and two more, at most 32."""
    return min(32, 2 * max_sessions + 2)


async def _io_pool(app: web.Application) -> None:
    """The event loop's default executor: bounded by `io_workers`, threads named IO_POOL."""
    pool = named_executor(IO_POOL, io_workers(app[CONFIG].max_sessions))
    asyncio.get_running_loop().set_default_executor(pool)


async def _shutdown(app: web.Application) -> None:
    await app[VIEWERS].close_all()
    await app[MANAGER].close_all()


def create_app(config: ServeConfig) -> web.Application:
    if not config.avatars:
        raise InputError("serve at least one avatar")
    if config.max_sessions < 1:
        raise InputError("--max-sessions must be at least 1")
    if config.max_viewers < 0:
        raise InputError("--max-viewers must be 0 or more")
    app = web.Application(middlewares=[_json_errors, _origin, _auth],
                          client_max_size=MAX_BODY)
    app[CONFIG] = config
    app[PENDING] = []
    app[CAPACITY] = config.capacity or configured(config.max_sessions)
    pipeline = config.session.pipeline
    cpu_sets = (session_cpu_sets(list(pipeline.cpus or available_cpus()), config.max_sessions)
                if pipeline.pin_threads else None)
    app[CLUSTER] = None
    if config.cluster is None:
        app[MANAGER] = SessionManager(config.avatars, config.max_sessions, config.session,
                                      CpuSetPool(cpu_sets))
    else:  # the sessions on a Ray cluster's nodes; this machine's slots if it starts one
        from server.cluster import ClusterManager

        cluster = ClusterManager(config.avatars, config.session, config.cluster,
                                 config.max_sessions)
        app[MANAGER] = app[CLUSTER] = cluster
        app.on_startup.append(cluster.startup)
        app.on_cleanup.append(cluster.cleanup)
    app[VIEWERS] = ViewerManager(config.max_viewers, config.session)
    whip.add_routes(app)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name:.+}", static)
    app.router.add_get("/avatars", avatars)
    app.router.add_get("/avatars/{name}/poster", poster)
    app.router.add_post("/offer", offer)
    app.router.add_get("/stats", stats)
    app.router.add_post("/stats", post_stats)
    app.router.add_post("/control", control)
    app.on_startup.append(_io_pool)
    app.on_shutdown.append(_shutdown)
    return app
