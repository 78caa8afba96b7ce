"""One browser session: an aiortc peer connection and a live pipeline, and their end.

A session starts from the browser's offer: the incoming video track feeds a
`LivePipeline`, whose output goes back as an `AvatarTrack` on the same connection
(VP8 preferred by default). On the client's "control" data channel the session asks,
once a second, for the camera frame rate it keeps up with (`server.sendrate`), tells the
tracking mode (what the camera shows of the performer: `LiveFrame.mode`) whenever it
changes and with that once-a-second message, and sends each frame's pose while the
client's overlay is on (`{"overlay": true}` from it).

It ends when the browser leaves (track ended, connection failed or closed), on `stop`,
or when the server shuts down; ending stops the pipeline, waits for its stages, releases
its models and threads, and closes the connection.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from engine.avatar import AvatarBundle
from engine.errors import InputError
from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
from engine.timing import summarize_ms
from server.jitter import MarkerJitterBuffer, use_marker_jitter_buffer
from server.sendrate import SendRate
from server.tracks import AvatarTrack, TrackSource

log = logging.getLogger(__name__)

_ids = itertools.count(1)
CONTROL_CHANNEL = "control"
RATE_SECONDS = 1.0  # how often the session revises the frame rate it asks for


@dataclass(frozen=True)
class SessionOptions:
    codec: str = "VP8"  # preferred video codec for the avatar track
    pipeline: PipelineConfig = PipelineConfig()


class Session:
    def __init__(self, avatars: dict[str, AvatarBundle], avatar: str,
                 options: SessionOptions) -> None:
        self.id = f"s{next(_ids)}"
        self.avatars = avatars
        self.avatar = avatar
        self.options = options
        self.pc = RTCPeerConnection()
        self.track = AvatarTrack()
        self.pipeline: LivePipeline | None = None
        self.source: TrackSource | None = None
        self._run: asyncio.Task | None = None
        self._closing: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self.started = time.time()
        self.glass: deque[float] = deque(maxlen=600)  # glass-to-glass ms from the page
        self._control = None  # the client's control data channel
        self.overlay = False  # the client shows the overlay: send it the pose of each frame
        self.send_rate = SendRate()
        self._rate: asyncio.Task | None = None
        self._arrivals: MarkerJitterBuffer | None = None  # counts the frames that arrived
        self.mode_told: str | None = None  # the tracking mode the client last heard

    # -- signalling ------------------------------------------------------------------------
    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Set up the pipeline for the offer's video and return the answer."""
        bundle = self.avatars[self.avatar]
        loop = asyncio.get_running_loop()
        self.pipeline = await loop.run_in_executor(
            None, LivePipeline, bundle, self.options.pipeline)
        video = asyncio.get_running_loop().create_future()

        @self.pc.on("track")
        def on_track(track) -> None:  # noqa: ANN001 - aiortc track
            if track.kind == "video" and not video.done():
                receiver = next((r for r in self.pc.getReceivers() if r.track is track), None)
                if receiver is not None:
                    self._arrivals = use_marker_jitter_buffer(receiver)
                video.set_result((track, receiver))
                track.on("ended", lambda: self.close_soon("the browser's video ended"))

        @self.pc.on("datachannel")
        def on_channel(channel) -> None:  # noqa: ANN001 - aiortc RTCDataChannel
            if channel.label == CONTROL_CHANNEL:
                self._control = channel
                channel.on("message", self._on_control_message)

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("%s: connection %s", self.id, self.pc.connectionState)
            if self.pc.connectionState in ("failed", "closed"):
                self.close_soon(f"connection {self.pc.connectionState}")

        await self.pc.setRemoteDescription(offer)
        if not video.done():
            raise InputError("the offer has no video track to animate")
        sender = self.pc.addTrack(self.track)
        self._prefer_codec(sender)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.source = TrackSource(*video.result())
        self._run = asyncio.create_task(self._pipeline_task())
        self._rate = asyncio.create_task(self._rate_task())
        return self.pc.localDescription

    def _prefer_codec(self, sender: RTCRtpSender) -> None:
        wanted = f"video/{self.options.codec}".lower()
        codecs = [c for c in RTCRtpSender.getCapabilities("video").codecs
                  if c.mimeType.lower() in (wanted, "video/rtx")]
        for transceiver in self.pc.getTransceivers():
            if transceiver.sender is sender and any(c.mimeType.lower() == wanted
                                                    for c in codecs):
                transceiver.setCodecPreferences(codecs)

    async def _pipeline_task(self) -> None:
        try:
            await self.pipeline.run(self.source, self._sink)
        finally:
            self.track.finish()
            self.close_soon("the pipeline ended")

    def _on_control_message(self, message: str | bytes) -> None:
        """The client's `{"overlay": true|false}`: whether to send it the poses."""
        try:
            wanted = json.loads(message)["overlay"]
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("%s: ignored a control message (%s): %.80r", self.id, exc, message)
            return
        self.overlay = bool(wanted)

    def _send_control(self, message: dict) -> bool:
        """Send `message` on the client's control channel; False when it is not open."""
        channel = self._control
        if channel is None or channel.readyState != "open":
            return False
        channel.send(json.dumps(message))
        return True

    def _tell_mode(self, mode: str) -> None:
        """`{"mode": ...}` to the client when the tracking mode differs from what it heard."""
        if mode != self.mode_told and self._send_control({"mode": mode}):
            self.mode_told = mode

    def frames_missed(self, snap: dict) -> int:
        """Frames that arrived but did not come out (so far), from the pipeline's
        statistics `snap`: dropped, skipped as stale, or still on their way, which
        includes any backlog before the decoder. Without the arrival count, the frames
        the pipeline dropped or skipped."""
        if self._arrivals is not None:
            return max(0, self._arrivals.frames - snap["frames_out"])
        return snap["dropped"] + (self.source.skipped if self.source else 0)

    async def _rate_task(self) -> None:
        """Once a second: the frame rate the client should send, from the pipeline's
        output and the frames it missed (see server.sendrate), and the tracking mode."""
        last = time.perf_counter()
        while True:
            await asyncio.sleep(RATE_SECONDS)
            now = time.perf_counter()
            snap = self.pipeline.snapshot()
            fps = self.send_rate.update(snap["frames_out"], self.frames_missed(snap),
                                        now - last, self.source.waiting if self.source else 0)
            last = now
            message: dict[str, object] = {"send_fps": round(fps, 1)}
            if snap["frames_out"]:  # the mode of the newest frame out, once there is one,
                message["mode"] = snap["mode"]  # so that a client that came late learns it
            if self._send_control(message) and "mode" in message:
                self.mode_told = snap["mode"]

    async def _sink(self, frame: LiveFrame) -> None:
        await self.track.sink(frame)
        self._tell_mode(frame.mode)
        if self.overlay and frame.normalized is not None:
            points = [[None, None] if not np.isfinite(p[:2]).all() else
                      [round(float(p[0]), 1), round(float(p[1]), 1)] for p in frame.normalized]
            self._send_control({"pose": points})

    # -- controls and statistics -------------------------------------------------------
    def control(self, action: str) -> None:
        if action in ("calibrate", "reset"):
            self.pipeline.reset()
        elif action == "stop":
            self.close_soon("stopped by the page")
        else:
            raise InputError(f"unknown action {action!r}; use calibrate, reset or stop")

    def add_glass_to_glass(self, samples_ms: list[float]) -> None:
        self.glass.extend(float(s) for s in samples_ms if 0 <= float(s) < 60_000)

    def stats(self) -> dict:
        pipe = self.pipeline.snapshot() if self.pipeline else {}
        glass = summarize_ms([g / 1e3 for g in self.glass]) if self.glass else None
        return {"id": self.id, "avatar": self.avatar, "state": self.pc.connectionState,
                "seconds": round(time.time() - self.started, 1), **pipe,
                "frames_sent": self.track.frames_sent,
                "frame_codes_seen": self.source.codes_seen if self.source else 0,
                "stale_skipped": self.source.skipped if self.source else 0,
                "send_fps_asked": round(self.send_rate.fps, 1),
                "glass_to_glass": None if glass is None else
                {"p50_ms": glass["p50_ms"], "p95_ms": glass["p95_ms"],
                 "samples": glass["count"]}}

    # -- the end ----------------------------------------------------------------------------
    def close_soon(self, why: str) -> None:
        if self._closing is None:
            log.info("%s: closing (%s)", self.id, why)
            self._closing = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        self.close_soon("closed by the server")
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._rate is not None:
            self._rate.cancel()
            await asyncio.gather(self._rate, return_exceptions=True)
        if self.pipeline is not None:
            self.pipeline.stop()
        if self._run is not None and self._run is not asyncio.current_task():
            await asyncio.gather(self._run, return_exceptions=True)
        self.track.finish()
        self.track.stop()
        await self.pc.close()
        if self.pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.pipeline.close)
        self.closed.set()


class SessionManager:
    """The live sessions, at most `max_sessions` at once."""

    def __init__(self, avatars: dict[str, AvatarBundle], max_sessions: int,
                 options: SessionOptions) -> None:
        self.avatars = avatars
        self.max_sessions = max_sessions
        self.options = options
        self.sessions: dict[str, Session] = {}

    @property
    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    async def open(self, offer: RTCSessionDescription, avatar: str) -> Session:
        session = Session(self.avatars, avatar, self.options)
        self.sessions[session.id] = session
        try:
            await session.answer(offer)
        except BaseException:
            await session.close()
            self.sessions.pop(session.id, None)
            raise
        asyncio.ensure_future(self._forget_when_closed(session))
        return session

    async def _forget_when_closed(self, session: Session) -> None:
        await session.closed.wait()
        self.sessions.pop(session.id, None)

    async def close_all(self) -> None:
        await asyncio.gather(*(s.close() for s in list(self.sessions.values())))
        self.sessions.clear()
