"""What the server's routes share: the application's keys, JSON errors, and request bodies
read within bounds (size `MAX_BODY`, `BODY_TIMEOUT` seconds to arrive, at most
`MAX_PENDING_BODIES` on their way at once)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from engine.errors import InputError
from server import validate
from server.session import SessionManager

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
