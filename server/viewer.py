"""A viewer of a stream: a WHEP player's peer connection receiving a session's avatar.

The player's offer receives video (`a=recvonly`); the answer sends the stream's frames on
it (`a=sendonly`, VP8 preferred unless the server's codec says otherwise), and the
performer's audio on its audio section if it has one (`server.audio`). A viewer ends on
`DELETE` of its resource, when its connection fails or closes, when it has not connected
`connect_timeout` seconds after the answer, or when the stream ends. Viewers are counted
per stream, apart from performer sessions, at most `max_viewers` each.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets

from aiortc import RTCSessionDescription

from server.broadcast import Broadcast, forward_receiver_feedback
from server.peer import (
    new_peer_connection,
    prefer_codec,
    sender_mid,
    sent_codec,
    take_dtls_server_role,
)
from server.session import SECRET_BYTES, ServerBusy, SessionOptions

log = logging.getLogger(__name__)


def receives_audio(offer_sdp: str) -> bool:
    """Whether an offer has an audio section that receives (recvonly or sendrecv)."""
    from aiortc.sdp import SessionDescription

    return any(m.kind == "audio" and m.direction in ("recvonly", "sendrecv")
               for m in SessionDescription.parse(offer_sdp).media)


class Viewer:
    """One player's connection to one stream."""

    def __init__(self, broadcast: Broadcast, options: SessionOptions) -> None:
        self.resource = secrets.token_urlsafe(SECRET_BYTES)  # its URL ends the viewer
        self.broadcast = broadcast
        self.options = options
        self.pc = new_peer_connection(options.ice_servers)
        self.track = broadcast.track()
        self.audio = None  # the performer's audio, when the player's offer receives audio
        self.closed = asyncio.Event()
        self.patches = 0  # trickle requests to its resource so far
        self._closing: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._watch: asyncio.Task | None = None

    @property
    def stream(self) -> str:
        return self.broadcast.stream

    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """The answer that sends the stream on the offer's receiving video section."""

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            state = self.pc.connectionState
            if state == "connected":
                self._connected.set()
            elif state in ("failed", "closed"):
                self.close_soon(f"connection {state}")

        self.track.on("finished", lambda: self.close_soon("the stream ended"))
        await self.pc.setRemoteDescription(offer)
        take_dtls_server_role(self.pc)
        sender = self.pc.addTrack(self.track)
        prefer_codec(self.pc, sender, self.options.codec)
        forward_receiver_feedback(sender, self.track)
        if receives_audio(offer.sdp):
            self.audio = self.broadcast.audio.track()
            self.pc.addTrack(self.audio)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.broadcast.attach(self.track, sent_codec(self.pc.localDescription.sdp,
                                                     sender_mid(self.pc, sender)))
        self._watch = asyncio.create_task(self._watch_task())
        return self.pc.localDescription

    async def _watch_task(self) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), self.options.connect_timeout)
        except TimeoutError:
            self.close_soon(f"not connected within {self.options.connect_timeout:g} s")

    def close_soon(self, why: str) -> None:
        if self._closing is None:
            log.info("viewer of %s: closing (%s)", self.stream, why)
            self._closing = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        self.close_soon("closed by the server")
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._watch is not None and self._watch is not asyncio.current_task():
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        self.track.stop()
        if self.audio is not None:
            self.audio.stop()
        await self.pc.close()
        self.closed.set()

    def stats(self) -> dict:
        return {"stream": self.stream, "state": self.pc.connectionState,
                "codec": self.track.codec, "frames_sent": self.track.frames_sent,
                "restarts": self.track.restarts}


class ViewerManager:
    """The viewers of every stream, at most `max_viewers` per stream."""

    def __init__(self, max_viewers: int, options: SessionOptions) -> None:
        self.max_viewers = max_viewers
        self.options = options
        self.viewers: dict[str, Viewer] = {}  # resource -> viewer

    def count(self, stream: str) -> int:
        return sum(1 for v in self.viewers.values() if v.stream == stream)

    async def open(self, broadcast: Broadcast, offer: RTCSessionDescription) -> Viewer:
        """A viewer of `broadcast` answering `offer`; ServerBusy when the stream has
        `max_viewers` already. Whatever fails releases the viewer at once."""
        if self.count(broadcast.stream) >= self.max_viewers:
            raise ServerBusy(f"the stream has {self.max_viewers} viewer(s), its most")
        viewer = Viewer(broadcast, self.options)
        self.viewers[viewer.resource] = viewer
        try:
            await viewer.answer(offer)
        except BaseException:
            self.viewers.pop(viewer.resource, None)
            await viewer.close()
            raise
        asyncio.ensure_future(self._forget_when_closed(viewer))
        return viewer

    def add(self, viewer: Viewer) -> None:
        """Count in a viewer opened elsewhere (a session's node, `server.cluster`) until
        it ends; ServerBusy when its stream has `max_viewers` already."""
        if self.count(viewer.stream) >= self.max_viewers:
            raise ServerBusy(f"the stream has {self.max_viewers} viewer(s), its most")
        self.viewers[viewer.resource] = viewer
        asyncio.ensure_future(self._forget_when_closed(viewer))

    def by_resource(self, resource: str) -> Viewer | None:
        return next((v for key, v in self.viewers.items()
                     if hmac.compare_digest(key.encode(), resource.encode())), None)

    async def _forget_when_closed(self, viewer: Viewer) -> None:
        await viewer.closed.wait()
        self.viewers.pop(viewer.resource, None)

    async def close_all(self) -> None:
        await asyncio.gather(*(v.close() for v in list(self.viewers.values())))
        self.viewers.clear()
