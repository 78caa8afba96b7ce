"""WHIP ingest and WHEP egress: live streaming's standard signalling over HTTP.

* `POST /whip` (`/whip/<avatar>`), body `application/sdp`: a performer's camera, as OBS
  Studio (30+), GStreamer's `whipsink`/`whipclientsink` or the page send it (RFC 9725).
  `201 Created` with the answer (`application/sdp`, receive only) and `Location:` the
  session's resource, an unguessable URL: `DELETE` on it ends the session, `PATCH` with
  `application/trickle-ice-sdpfrag` adds trickled candidates (`204`; an ICE restart is
  `422`). The avatar of a WHIP session goes to its stream's viewers only.
* `POST /whep/<stream>`, body `application/sdp` (a player's receive-only offer): `201`
  with a send-only answer carrying the stream's avatar, `Location:` the viewer's resource
  (`DELETE`, `PATCH` as above). At most `max_viewers` per stream (`503`).
* `GET /watch/<stream>`: the viewer page (the avatar alone, filling the window), usable as
  an OBS browser source.

Every answer also carries `Link: <...>; rel="ice-server"` for each configured ICE server,
and for a WHIP session `Dancenow-Session`, `Dancenow-Secret` (for `/control` and
`/stats`) and `Dancenow-Stream` (the stream's name, for `/whep/` and `/watch/`). Errors are
JSON like every other route's: `415` for another content type, `400` with the reason for
a malformed offer or fragment, `404` for an unknown stream or resource, `503` with
`Retry-After` when full, `429` past `MAX_PATCHES` trickle requests to one resource.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiortc import RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from engine.errors import InputError
from server import trickle, validate
from server.http import (
    CONFIG,
    MANAGER,
    PEER_REFUSALS,
    STATIC,
    VIEWERS,
    busy,
    error,
    open_session,
    read_text,
    refused_by_peer,
)
from server.session import ServerBusy, Session
from server.viewer import Viewer

log = logging.getLogger(__name__)

SDP_TYPE = "application/sdp"
HEADERS_EXPOSED = "Location, Link, Dancenow-Session, Dancenow-Secret, Dancenow-Stream"


def _ice_links(request: web.Request) -> list[str]:
    return [s.link() for s in request.app[CONFIG].session.ice_servers]


def _sdp_response(request: web.Request, answer: RTCSessionDescription, location: str,
                  extra: dict[str, str]) -> web.Response:
    response = web.Response(status=201, text=answer.sdp, content_type=SDP_TYPE)
    response.headers["Location"] = location
    response.headers["Access-Control-Expose-Headers"] = HEADERS_EXPOSED
    for link in _ice_links(request):
        response.headers.add("Link", link)
    response.headers.update(extra)
    return response


async def _offer_sdp(request: web.Request, video: str) -> str | web.Response:
    """The offer of a POST (checked; `video` as in `validate.check_offer_sdp`), or the
    error response to give."""
    if request.content_type != SDP_TYPE:
        return error(415, f"send the offer as {SDP_TYPE}")
    try:
        sdp = await read_text(request, validate.MAX_SDP)
        validate.check_offer_sdp(sdp, video)
    except InputError as exc:
        return error(400, str(exc))
    return sdp


async def whip(request: web.Request) -> web.StreamResponse:
    manager = request.app[MANAGER]
    sdp = await _offer_sdp(request, "send")
    if isinstance(sdp, web.Response):
        return sdp
    avatar = request.match_info.get("avatar") or next(iter(manager.avatars))
    if avatar not in manager.avatars:
        return error(404, f"unknown avatar {avatar!r}; serving {', '.join(manager.avatars)}")
    session = await open_session(manager, sdp, avatar, "WHIP offer", ingest_only=True)
    if isinstance(session, web.Response):
        return session
    log.info("WHIP session of %s: its viewers watch /watch/%s", avatar, session.stream)
    return _sdp_response(request, session.pc.localDescription,
                         f"/whip/resource/{session.resource}",
                         {"Dancenow-Session": session.id, "Dancenow-Secret": session.secret,
                          "Dancenow-Stream": session.stream})


async def whep(request: web.Request) -> web.StreamResponse:
    sdp = await _offer_sdp(request, "receive")
    if isinstance(sdp, web.Response):
        return sdp
    stream = request.match_info["stream"]
    session = request.app[MANAGER].by_stream(stream)
    if session is None or session.state in ("closing", "closed"):
        return error(404, f"no live stream {stream!r}")
    viewers = request.app[VIEWERS]
    try:
        if session.remote:  # on a cluster's node: that node answers (server.cluster)
            if viewers.count(stream) >= viewers.max_viewers:
                raise ServerBusy(f"the stream has {viewers.max_viewers} viewer(s), its most")
            viewer = await session.open_viewer(sdp, viewers.max_viewers)
            viewers.add(viewer)
        else:
            viewer = await viewers.open(session.broadcast,
                                        RTCSessionDescription(sdp=sdp, type="offer"))
    except ServerBusy as exc:
        return busy(str(exc), retry_after=True)
    except LookupError as exc:
        return error(404, f"no live stream {stream!r} ({exc})")
    except InputError as exc:
        return error(400, str(exc))
    except PEER_REFUSALS as exc:
        return refused_by_peer(exc, "WHEP offer")
    return _sdp_response(request, viewer.pc.localDescription,
                         f"/whep/resource/{viewer.resource}", {"Dancenow-Stream": stream})


def _resource(request: web.Request) -> Session | Viewer | None:
    name = request.match_info["resource"]
    if request.match_info["kind"] == "whip":
        return request.app[MANAGER].by_resource(name)
    return request.app[VIEWERS].by_resource(name)


async def delete_resource(request: web.Request) -> web.Response:
    target = _resource(request)
    if target is None:
        return error(404, "no such resource (it ended, or never was)")
    target.close_soon(f"deleted by its {request.match_info['kind'].upper()} client")
    return web.Response(status=200)


async def patch_resource(request: web.Request) -> web.Response:
    """Trickled candidates for a resource's connection (see server.trickle)."""
    target = _resource(request)
    if target is None:
        return error(404, "no such resource (it ended, or never was)")
    if request.content_type != trickle.FRAGMENT_TYPE:
        return error(415, f"send candidates as {trickle.FRAGMENT_TYPE}")
    target.patches += 1
    if target.patches > trickle.MAX_PATCHES:
        return error(429, f"more than {trickle.MAX_PATCHES} trickle requests to one resource")
    try:
        fragment = trickle.parse_fragment(await read_text(request, trickle.MAX_FRAGMENT))
    except InputError as exc:
        return error(400, str(exc))
    remote = target.pc.remoteDescription
    current = trickle.remote_ufrag(remote.sdp) if remote is not None else None
    if fragment.ufrag is not None and fragment.ufrag != current:
        return error(422, "ICE restarts are not supported: start a new session")
    mids = [t.mid for t in target.pc.getTransceivers() if t.mid is not None]
    for mid, value in fragment.candidates:
        try:
            candidate = candidate_from_sdp(value)
        except (AssertionError, ValueError, IndexError) as exc:
            return error(400, f"malformed candidate ({exc})")
        candidate.sdpMid = mid if mid in mids else (mids[0] if mids else None)
        if candidate.sdpMid is None:
            return error(409, "the connection has no media section for candidates yet")
        await target.pc.addIceCandidate(candidate)
    return web.Response(status=204)


async def watch(request: web.Request) -> web.FileResponse:
    """The viewer page; the stream's name comes from its own address."""
    return web.FileResponse(STATIC / "watch.html")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/whip", whip)
    app.router.add_post("/whip/{avatar}", whip)
    app.router.add_post("/whep/{stream}", whep)
    app.router.add_delete("/{kind:whip|whep}/resource/{resource}", delete_resource)
    app.router.add_patch("/{kind:whip|whep}/resource/{resource}", patch_resource)
    app.router.add_get("/watch/{stream}", watch)
