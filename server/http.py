"""What the server's routes share: the application's keys, JSON errors, and request bodies
read within bounds (size `MAX_BODY`, `BODY_TIMEOUT` seconds to arrive, at most
`MAX_PENDING_BODIES` on their way at once)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web
from aiortc import RTCSessionDescription
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError

from engine.errors import InputError
from server import validate
from server.session import ServerBusy, Session, SessionClosed, SessionManager

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
RETRY_AFTER_S = 10  # Retry-After of a 503 when the server or a stream is full (WHIP, WHEP)
# what aiortc raises for an offer the checks of server.validate did not foresee
PEER_REFUSALS = (ValueError, InvalidAccessError, InvalidStateError, OperationError)

MANAGER = web.AppKey("manager", SessionManager)
CONFIG = web.AppKey("config", object)
VIEWERS = web.AppKey("viewers", object)  # server.viewer.ViewerManager
PENDING = web.AppKey("pending", list)  # [bodies being read now]
MAX_BODY = 256 * 1024
BODY_TIMEOUT = 10.0  # seconds for a request body to arrive
MAX_PENDING_BODIES = 32  # request bodies on their way at once
JSON_TYPE = "application/json"


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """`{"error": message}` with `status`."""
    return web.json_response({"error": message}, status=status, headers=headers)


def busy(message: str, retry_after: bool = False) -> web.Response:
    """503 with `message` (and `Retry-After`, as WHIP and WHEP clients expect)."""
    headers = {"Retry-After": str(RETRY_AFTER_S)} if retry_after else None
    return error(503, message, headers)


def refused_by_peer(exc: Exception, what: str) -> web.Response:
    """400 for an offer that aiortc refused (logged: the checks did not foresee it)."""
    log.warning("%s refused by the peer connection: %s: %s", what, type(exc).__name__, exc)
    return error(400, f"the offer could not be answered ({type(exc).__name__}: {exc})")


async def open_session(manager: SessionManager, sdp: str, avatar: str, what: str,
                       ingest_only: bool = False) -> Session | web.Response:
    """A session answering the checked offer `sdp`, or the error to answer with: 503 (with
    `Retry-After`) when full, 400 for an offer without video or one aiortc refuses, 409
    when it was stopped before its answer."""
    full = f"the server is busy: {manager.max_sessions} session(s) live"
    if manager.full:
        return busy(full, retry_after=True)
    try:
        return await manager.open(RTCSessionDescription(sdp=sdp, type="offer"), avatar,
                                  ingest_only)
    except InputError as exc:
        return error(400, str(exc))
    except SessionClosed as exc:
        return error(409, f"the session was stopped before it was answered ({exc})")
    except ServerBusy:
        return busy(full, retry_after=True)
    except PEER_REFUSALS as exc:
        return refused_by_peer(exc, what)


async def read_text(request: web.Request, max_bytes: int = MAX_BODY) -> str:
    """The request's body as text, within `max_bytes` (413), BODY_TIMEOUT (408) and the
    cap on bodies arriving at once (503); InputError when it is not UTF-8."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes,
                                            actual_size=request.content_length)
    pending = request.app[PENDING]
    if len(pending) >= MAX_PENDING_BODIES:
        raise web.HTTPServiceUnavailable(text="too many request bodies on their way")
    pending.append(request)
    try:
        data = await asyncio.wait_for(request.read(), BODY_TIMEOUT)
    except TimeoutError:
        raise web.HTTPRequestTimeout(
            text=f"the body did not arrive within {BODY_TIMEOUT:g} s") from None
    except ConnectionResetError:  # the client left before its body arrived
        raise web.HTTPBadRequest(text="the connection closed before the body arrived") \
            from None
    finally:
        pending.remove(request)
    if len(data) > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=len(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"the body is not UTF-8: {exc}") from exc


async def read_json(request: web.Request) -> dict:
    """The request's JSON object (see `read_text` and `validate.parse_json_object`)."""
    return validate.parse_json_object(await read_text(request))
