"""A session's stream pushed to an external WHIP endpoint (a media server that fans out to
many: MediaMTX, LiveKit ingress, Janus behind a WHIP front end, or another dancenow).

The publisher is a WHIP client: a send-only offer with the stream's encoded frames (the
same packets its WHEP viewers get, `server.broadcast`), POSTed as `application/sdp` with
the configured bearer token; the answer's `Location` is `DELETE`d when the session ends.
`{stream}` in the URL is replaced by the stream's name. A publisher that fails (refused,
unreachable, its connection lost) logs why and ends; the session goes on without it.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from dataclasses import dataclass

import aiohttp
from aiortc import RTCSessionDescription
from aiortc.exceptions import InvalidStateError

from engine.errors import InputError
from server.broadcast import Broadcast, forward_receiver_feedback
from server.peer import IceServer, new_peer_connection, offer_codec_first, sent_codec

log = logging.getLogger(__name__)
HTTP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class PublishTarget:
    url: str  # http(s)://.../whip, `{stream}` replaced by the stream's name
    token: str | None = None

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"--publish takes an http(s) WHIP endpoint, got {self.url!r}")

    def for_stream(self, stream: str) -> str:
        return self.url.replace("{stream}", urllib.parse.quote(stream, safe=""))


class Publisher:
    """One stream pushed to one WHIP endpoint."""

    def __init__(self, broadcast: Broadcast, target: PublishTarget, codec: str = "VP8",
                 ice_servers: tuple[IceServer, ...] = ()) -> None:
        self.broadcast = broadcast
        self.target = target
        self.url = target.for_stream(broadcast.stream)
        self.codec = codec
        self.pc = new_peer_connection(ice_servers)
        self.track = broadcast.track()
        self.resource: str | None = None
        self.state = "new"  # new, offering, publishing, failed, closed
        self.error: str | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._publish())

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/sdp"}
        if self.target.token:
            headers["Authorization"] = f"Bearer {self.target.token}"
        return headers

    async def _publish(self) -> None:
        self.state = "offering"
        try:
            transceiver = self.pc.addTransceiver(self.track, direction="sendonly")
            offer_codec_first(transceiver, self.codec)
            forward_receiver_feedback(transceiver.sender, self.track)
            await self.pc.setLocalDescription(await self.pc.createOffer())
            timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
                    self.url, data=self.pc.localDescription.sdp,
                    headers=self._headers()) as res:
                body = await res.text()
                if res.status != 201:
                    raise RuntimeError(f"the endpoint answered {res.status}: {body[:200]}")
                location = res.headers.get("Location")
            if location:
                self.resource = urllib.parse.urljoin(self.url, location)
            await self.pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
            self.broadcast.attach(self.track, sent_codec(body, transceiver.mid))
        except (aiohttp.ClientError, TimeoutError, RuntimeError, ValueError,
                InvalidStateError) as exc:
            self.state, self.error = "failed", str(exc)
            log.warning("publishing %s to %s failed: %s", self.broadcast.stream, self.url, exc)
            await self.pc.close()
            return
        self.state = "publishing"
        log.info("publishing %s to %s", self.broadcast.stream, self.url)

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed") and self.state == "publishing":
                self.state = "failed"
                self.error = f"connection {self.pc.connectionState}"
                log.warning("publishing %s to %s: connection %s", self.broadcast.stream,
                            self.url, self.pc.connectionState)

    async def close(self) -> None:
        """Stop publishing: DELETE the resource (best effort) and close the connection."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.track.stop()
        if self.resource is not None:
            try:
                timeout = aiohttp.ClientTimeout(total=5.0)
                async with aiohttp.ClientSession(timeout=timeout) as http, http.delete(
                        self.resource, headers=self._headers()):
                    pass
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.info("could not DELETE %s: %s", self.resource, exc)
        await self.pc.close()
        if self.state != "failed":
            self.state = "closed"

    def stats(self) -> dict:
        return {"url": self.url, "state": self.state, "error": self.error,
                "frames_sent": self.track.frames_sent}
