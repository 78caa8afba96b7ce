"""One performer's session: an aiortc peer connection and a live pipeline, and their end.

A session starts from the browser's offer: the incoming video track feeds a
`LivePipeline`, whose output goes to the session's stream (`broadcast`, encoded once
per codec): back to the browser on the same connection (VP8 preferred by default) and
to the stream's WHEP viewers (`server.viewer`). A WHIP session (`ingest_only`) only
brings the camera in; its avatar goes to the stream alone. On the client's "control"
data channel the session asks, once a second, for the camera frame rate it keeps up with
(`server.sendrate`), tells the tracking mode (what the camera shows of the performer:
`LiveFrame.mode`) whenever it changes and with that once-a-second message, and sends
each frame's pose while the client's overlay is on (`{"overlay": true}` from it), with
the frame code of the avatar frame it was drawn into. The client switches the pose
prediction with `{"predict": "auto"|"off"|MS}` (`engine.predict`); its glass-to-glass
samples (`POST /stats`) give `auto` its horizon.

It ends when the browser leaves (track ended, connection failed or closed), when it
never connects (`SessionOptions.connect_timeout` after the answer), when its connection
stays "disconnected" for `disconnect_grace` or its video stops for `media_timeout`, on
`stop`, or when the server shuts down; ending stops the pipeline, waits for its stages,
releases its models and threads, and closes the connection.

A session goes through the states "loading" (the offer passed validation, its pipeline
loads), "connecting" (answered), "connected", "closing" and "closed". Every control is
defined in every state: `stop` closes the session (during loading, the pipeline is closed
as soon as it has loaded, and the offer fails with `SessionClosed`; later, it is a no-op
once closing); `calibrate` (or `reset`) restarts the online normalization of a running
pipeline, and is a no-op before the pipeline exists (a new pipeline calibrates from its
first frames anyway) and once the session is closing.

A session's id is random, and so is its `secret`, which the server tells the client in
its answer only: statistics, glass-to-glass samples and controls of a session need it.

Messages on the control channel are bounded: larger than `CONTROL_MAX_BYTES` or beyond
`CONTROL_MAX_RATE` a second they are dropped, malformed ones (not UTF-8, not JSON, nested
too deep, not `{"overlay": ...}` or `{"predict": ...}`) are ignored, and all of these are
logged at most once per `WARN_EVERY` seconds per session, with their count.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from aiortc import RTCSctpTransport, RTCSessionDescription
from aiortc.exceptions import InvalidStateError

from engine.avatar import AvatarBundle
from engine.errors import InputError
from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
from engine.pipeline.affinity import CpuSetPool
from engine.pipeline.live import GATED_STAGES
from engine.predict.setting import parse_predict
from engine.timing import summarize_ms
from server.broadcast import Broadcast, forward_receiver_feedback
from server.decoding import LatestDecoding, use_latest_decoding
from server.jitter import (
    MarkerJitterBuffer,
    use_audio_without_prefetch,
    use_marker_jitter_buffer,
)
from server.peer import (
    IceServer,
    new_peer_connection,
    prefer_codec,
    sender_mid,
    sent_codec,
    take_dtls_server_role,
)
from server.publish import Publisher, PublishTarget
from server.sendrate import SendRate, congested_turns
from server.tracks import TrackSource

log = logging.getLogger(__name__)

SECRET_BYTES = 16  # random bytes in a session's id and in its secret
CONTROL_CHANNEL = "control"
GLASS_RECENT = 30  # glass-to-glass samples whose median is the session's delay
RATE_SECONDS = 1.0  # how often the session revises the frame rate it asks for
CONTROL_MAX_BYTES = 4096  # control messages larger than this are dropped
CONTROL_MAX_RATE = 50  # control messages a second; beyond it they are dropped
WARN_EVERY = 10.0  # seconds between two warnings about bad control messages of a session
_SCTP_STRING = 51  # the SCTP payload protocol of a WebRTC text message (RFC 8831)


def heavy_step_ms(snap: dict) -> float | None:
    """The mean p50 ms of the steps that take turns at the CPUs, from a pipeline's
    statistics (None before both have run)."""
    times = _gated_step_ms(snap)
    return sum(times) / len(times) if all(times) else None


def heaviest_step_ms(snap: dict) -> float | None:
    """The largest p50 ms of the pipeline's steps, the bottleneck's time per frame (None
    before the steps that take turns have run)."""
    if not all(_gated_step_ms(snap)):
        return None
    return max((stage or {}).get("p50_ms") or 0.0 for stage in snap["stages"].values())


def _gated_step_ms(snap: dict) -> list[float | None]:
    return [(snap["stages"].get(name) or {}).get("p50_ms") for name in GATED_STAGES]


class SessionClosed(RuntimeError):
    """The session was stopped or closed before its offer was answered (the client
    should not use it; the application answers 409 Conflict)."""


class ServerBusy(RuntimeError):
    """No place for another session: `max_sessions` are live or loading (503)."""


@dataclass(frozen=True)
class SessionOptions:
    codec: str = "VP8"  # preferred video codec for the avatar track
    pipeline: PipelineConfig = PipelineConfig()
    connect_timeout: float = 10.0  # seconds from the answer to "connected", or it ends
    disconnect_grace: float = 3.0  # seconds "disconnected" before it ends
    media_timeout: float = 5.0  # seconds without a video frame from a connected client
    ice_servers: tuple[IceServer, ...] = ()  # STUN/TURN servers (none: host candidates)
    publish: tuple[PublishTarget, ...] = ()  # WHIP endpoints every stream is pushed to

    def __post_init__(self) -> None:
        """Reject timeouts that are not positive (they would end every session)."""
        for name in ("connect_timeout", "disconnect_grace", "media_timeout"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive seconds, got {getattr(self, name)}")


class _ControlGuard:
    """Rate, size and malformed-message accounting of one session's control channel."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.clock = clock
        self._window_start = clock()
        self._in_window = 0
        self.dropped: dict[str, int] = {}  # why -> count since the last warning
        self.total_dropped = 0
        self._last_warning: float | None = None

    def admit(self, size: int) -> bool:
        """Whether a message of `size` bytes is within the size and rate bounds."""
        now = self.clock()
        if now - self._window_start >= 1.0:
            self._window_start, self._in_window = now, 0
        self._in_window += 1
        if size > CONTROL_MAX_BYTES:
            self.drop(f"larger than {CONTROL_MAX_BYTES} bytes")
            return False
        if self._in_window > CONTROL_MAX_RATE:
            self.drop(f"beyond {CONTROL_MAX_RATE} a second")
            return False
        return True

    def drop(self, why: str) -> None:
        """Count a dropped message; warn at most once per `WARN_EVERY` seconds."""
        self.dropped[why] = self.dropped.get(why, 0) + 1
        self.total_dropped += 1
        now = self.clock()
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            summary = ", ".join(f"{n} {w}" for w, n in self.dropped.items())
            log.warning("%s: ignored control messages (%s)", self.name, summary)
            self.dropped.clear()


def _guard_text_messages(sctp: RTCSctpTransport, guard: _ControlGuard) -> None:
    """Drop the client's oversized text messages and those that are not UTF-8 before
    aiortc decodes them: its decoding error would end the whole connection."""
    receive = sctp._receive

    async def guarded(stream_id: int, pp_id: int, data: bytes) -> None:
        if pp_id == _SCTP_STRING:
            if len(data) > CONTROL_MAX_BYTES:
                guard.drop(f"larger than {CONTROL_MAX_BYTES} bytes")
                return
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                guard.drop("not UTF-8")
                return
        await receive(stream_id, pp_id, data)

    sctp._receive = guarded


class Session:
    """One browser's peer connection and live pipeline (see the module doc)."""

    remote = False  # its media are here (a cluster's front door holds remote ones)

    def __init__(self, avatars: dict[str, AvatarBundle], avatar: str,
                 options: SessionOptions, ingest_only: bool = False) -> None:
        """`ingest_only`: the connection only brings the camera in (WHIP); the avatar
        goes out to the stream's viewers alone."""
        self.id = secrets.token_urlsafe(SECRET_BYTES)  # unguessable: ids are not credentials
        # told to the client in the answer only; it alone may control this session
        self.secret = secrets.token_urlsafe(SECRET_BYTES)
        # the WHIP resource's name (its URL is the capability to end the session)
        self.resource = secrets.token_urlsafe(SECRET_BYTES)
        self.stream = secrets.token_urlsafe(12)  # the public name viewers watch it by
        self.broadcast = Broadcast(self.stream)
        self.ingest_only = ingest_only
        self.avatars = avatars
        self.avatar = avatar
        self.options = options
        self.pc = new_peer_connection(options.ice_servers)
        self.track = self.broadcast.track(performer=True)  # the avatar, back to the browser
        self.pipeline: LivePipeline | None = None
        self.source: TrackSource | None = None
        self._run: asyncio.Task | None = None
        self._closing: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self.patches = 0  # trickle requests to its resource so far
        self.started = time.time()
        self.glass: deque[float] = deque(maxlen=600)  # glass-to-glass ms from the page
        self._control = None  # the client's control data channel
        self.overlay = False  # the client shows the overlay: send it the pose of each frame
        self.send_rate = SendRate()
        self._rate: asyncio.Task | None = None
        self._arrivals: MarkerJitterBuffer | None = None  # counts the frames that arrived
        self._decoding: LatestDecoding | None = None  # sheds a decoder backlog
        self.mode_told: str | None = None  # the tracking mode the client last heard
        self._loading: asyncio.Future | None = None  # the pipeline being made
        self._watch: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._grace: asyncio.TimerHandle | None = None
        self._video: tuple | None = None  # (track, receiver) of the offer's video
        self.guard = _ControlGuard(self.id)
        self.publishers: list[Publisher] = []
        self.cpus: tuple[int, ...] | None = None  # CPUs of its own (None: shares them all)

    def owned_by(self, secret: object) -> bool:
        """Whether `secret` is this session's secret (compared in constant time)."""
        if not isinstance(secret, str):
            return False
        return hmac.compare_digest(secret.encode(), self.secret.encode())

    @property
    def state(self) -> str:
        """The session's state: "new", "loading", "connecting", "connected", "closing"
        or "closed" (a session is listed by its manager from "loading" on)."""
        if self.closed.is_set():
            return "closed"
        if self._closing is not None:
            return "closing"
        if self._connected.is_set():
            return "connected"
        if self._run is not None:
            return "connecting"
        return "loading" if self._loading is not None else "new"

    # -- signalling ------------------------------------------------------------------------
    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Check the offer, set up the pipeline for its video and return the answer."""
        await self.accept(offer)
        return await self.start()

    async def accept(self, offer: RTCSessionDescription) -> None:
        """Take the offer as the remote description; InputError when it sends no video."""
        video = asyncio.get_running_loop().create_future()

        @self.pc.on("track")
        def on_track(track) -> None:  # noqa: ANN001 - aiortc track
            if track.kind == "audio":  # music for the audience, not sent back
                receiver = next((r for r in self.pc.getReceivers() if r.track is track), None)
                if receiver is not None:
                    use_audio_without_prefetch(receiver)
                self.broadcast.audio.start(track)
            if track.kind == "video" and not video.done():
                receiver = next((r for r in self.pc.getReceivers() if r.track is track), None)
                if receiver is not None:
                    self._arrivals = use_marker_jitter_buffer(receiver)
                    self._decoding = use_latest_decoding(receiver)
                video.set_result((track, receiver))
                track.on("ended", lambda: self.close_soon("the browser's video ended"))

        @self.pc.on("datachannel")
        def on_channel(channel) -> None:  # noqa: ANN001 - aiortc RTCDataChannel
            if channel.label == CONTROL_CHANNEL:
                self._control = channel
                channel.on("message", self._on_control_message)

        @self.pc.on("connectionstatechange")
        async def on_state() -> None:
            self._on_connection_state(self.pc.connectionState)

        await self.pc.setRemoteDescription(offer)
        if not video.done():
            raise InputError("the offer has no video track to animate")
        take_dtls_server_role(self.pc)
        if self.pc.sctp is not None:
            _guard_text_messages(self.pc.sctp, self.guard)
        self._video = video.result()

    async def start(self) -> RTCSessionDescription:
        """Load the pipeline for the accepted offer and return the answer.

        Raises SessionClosed when the session was stopped or closed meanwhile (its
        pipeline is then closed by the session's end, once it has loaded)."""
        if self._video is None:
            raise RuntimeError("start() needs an accepted offer (accept() first)")
        if self._closing is not None:
            raise SessionClosed(f"session {self.id} was closed before its answer")
        loop = asyncio.get_running_loop()
        config = self.options.pipeline
        if self.cpus is not None:
            config = dataclasses.replace(config, cpus=self.cpus)
        self._loading = loop.run_in_executor(None, LivePipeline, self.avatars[self.avatar],
                                             config)
        # Shielded: a cancelled offer must not orphan a pipeline still loading; the
        # session's end waits for it and closes it.
        pipeline = await asyncio.shield(self._loading)
        if self._closing is not None:
            raise SessionClosed(f"session {self.id} was stopped while it was loading")
        self.pipeline = pipeline
        try:
            sender = None if self.ingest_only else self.pc.addTrack(self.track)
            if sender is not None:
                prefer_codec(self.pc, sender, self.options.codec)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            if sender is not None:
                self.broadcast.attach(self.track, sent_codec(self.pc.localDescription.sdp,
                                                             sender_mid(self.pc, sender)))
                forward_receiver_feedback(sender, self.track)
        except InvalidStateError as exc:  # the connection was closed meanwhile
            if self._closing is None:
                raise
            raise SessionClosed(f"session {self.id} was stopped while it answered") from exc
        if self._closing is not None:
            raise SessionClosed(f"session {self.id} was stopped while it answered")
        self.source = TrackSource(*self._video)
        self._run = asyncio.create_task(self._pipeline_task())
        self._rate = asyncio.create_task(self._rate_task())
        self._watch = asyncio.create_task(self._watch_task())
        for target in self.options.publish:
            publisher = Publisher(self.broadcast, target, self.options.codec,
                                  self.options.ice_servers)
            publisher.start()
            self.publishers.append(publisher)
        return self.pc.localDescription

    def _on_connection_state(self, state: str) -> None:
        """End the session on a failed or closed connection, or one that stays
        disconnected for `disconnect_grace` seconds."""
        log.info("%s: connection %s", self.id, state)
        if self._grace is not None and state != "disconnected":
            self._grace.cancel()
            self._grace = None
        if state == "connected":
            self._connected.set()
        elif state in ("failed", "closed"):
            self.close_soon(f"connection {state}")
        elif state == "disconnected" and self._grace is None and self._closing is None:
            self._grace = asyncio.get_running_loop().call_later(
                self.options.disconnect_grace, self.close_soon,
                f"disconnected for {self.options.disconnect_grace:g} s")

    async def _watch_task(self) -> None:
        """End the session when it does not connect within `connect_timeout`, or when a
        connected client's video stops for `media_timeout` seconds."""
        try:
            await asyncio.wait_for(self._connected.wait(), self.options.connect_timeout)
        except TimeoutError:
            self.close_soon(f"not connected within {self.options.connect_timeout:g} s")
            return
        if self._arrivals is None:
            return  # no frame count from this aiortc release: the connection's state only
        period = min(1.0, self.options.media_timeout / 4)
        frames, since = self._arrivals.frames, time.monotonic()
        while self._closing is None:
            await asyncio.sleep(period)
            if self._arrivals.frames != frames:
                frames, since = self._arrivals.frames, time.monotonic()
            elif time.monotonic() - since >= self.options.media_timeout:
                self.close_soon(f"no video for {self.options.media_timeout:g} s")
                return

    async def _pipeline_task(self) -> None:
        try:
            await self.pipeline.run(self.source, self._sink)
        finally:
            self.broadcast.finish()
            self.close_soon("the pipeline ended")

    def _on_control_message(self, message: str | bytes) -> None:
        """The client's `{"overlay": true|false}` (whether to send it the poses) and
        `{"predict": "auto"|"off"|MS}` (the pose prediction's setting).

        Anything else is dropped (see the module doc); nothing raised here reaches
        aiortc, whose receiving loop would otherwise end the connection."""
        if not isinstance(message, str | bytes):
            self.guard.drop("not text")
            return
        if not self.guard.admit(len(message)):
            return
        try:
            text = message.decode("utf-8") if isinstance(message, bytes) else message
            parsed = json.loads(text)
        except UnicodeDecodeError:
            self.guard.drop("not UTF-8")
            return
        except RecursionError:
            self.guard.drop("nested too deep")
            return
        except ValueError:
            self.guard.drop("not JSON")
            return
        if isinstance(parsed, dict) and "predict" in parsed:
            try:
                self.set_predict(parsed["predict"])
            except InputError as exc:
                self.guard.drop(f"predict: {exc}")
            return
        if not isinstance(parsed, dict) or not isinstance(parsed.get("overlay"), bool | int):
            self.guard.drop('not {"overlay": true|false} or {"predict": ...}')
            return
        self.overlay = bool(parsed["overlay"])

    def set_predict(self, value: object) -> None:
        """The pose prediction: auto, off or milliseconds (InputError otherwise); a
        no-op before the pipeline exists and once closing."""
        setting = parse_predict(value)
        if self.pipeline is None or self._closing is not None:
            log.info("%s: predict ignored while %s", self.id, self.state)
            return
        self.pipeline.set_predict(setting)
        log.info("%s: pose prediction %s", self.id, setting)

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
        turns, waited = 0, 0.0
        while True:
            await asyncio.sleep(RATE_SECONDS)
            now = time.perf_counter()
            snap = self.pipeline.snapshot()
            congested = congested_turns(snap["turns"] - turns, snap["turn_seconds"] - waited,
                                        heavy_step_ms(snap))
            turns, waited = snap["turns"], snap["turn_seconds"]
            fps = self.send_rate.update(snap["frames_out"], self.frames_missed(snap),
                                        now - last, self.source.waiting if self.source else 0,
                                        congested, heaviest_step_ms(snap))
            last = now
            message: dict[str, object] = {"send_fps": round(fps, 1)}
            if snap["frames_out"]:  # the mode of the newest frame out, once there is one,
                message["mode"] = snap["mode"]  # so that a client that came late learns it
            if self._send_control(message) and "mode" in message:
                self.mode_told = snap["mode"]

    async def _sink(self, frame: LiveFrame) -> None:
        await self.broadcast.publish(frame)
        self._tell_mode(frame.mode)
        if self.overlay and frame.normalized is not None:
            points = [[None, None] if not np.isfinite(p[:2]).all() else
                      [round(float(p[0]), 1), round(float(p[1]), 1)] for p in frame.normalized]
            self._send_control({"pose": points, "code": frame.id})

    # -- controls and statistics -------------------------------------------------------
    def control(self, action: str) -> None:
        """`calibrate`/`reset` or `stop`, defined in every state (see the module doc):
        calibrate before the pipeline exists or once closing is a no-op; stop closes."""
        if action in ("calibrate", "reset"):
            if self.pipeline is not None and self._closing is None:
                self.pipeline.reset()
            else:
                log.info("%s: %s ignored while %s", self.id, action, self.state)
        elif action == "stop":
            self.close_soon("stopped by the page")
        else:
            raise InputError(f"unknown action {action!r}; use calibrate, reset or stop")

    def add_glass_to_glass(self, samples_ms: list[float]) -> None:
        """The page's samples; the median of its recent ones is the delay that the pose
        prediction's `auto` uses."""
        fresh = [float(s) for s in samples_ms if 0 <= float(s) < 60_000]
        self.glass.extend(fresh)
        if fresh and self.pipeline is not None:
            recent = list(self.glass)[-GLASS_RECENT:]
            self.pipeline.client_delay(float(np.median(recent)) / 1e3)

    def stats(self) -> dict:
        pipe = self.pipeline.snapshot() if self.pipeline else {}
        glass = summarize_ms([g / 1e3 for g in self.glass]) if self.glass else None
        return {"id": self.id, "avatar": self.avatar, "state": self.pc.connectionState,
                "phase": self.state, "stream": self.stream, "ingest_only": self.ingest_only,
                "viewers": self.broadcast.viewers,
                "stream_encode_ms": self.broadcast.encode_ms(),
                "audio_frames": self.broadcast.audio.frames,
                "published": [p.stats() for p in self.publishers],
                "seconds": round(time.time() - self.started, 1), **pipe,
                "cpus": list(self.cpus) if self.cpus is not None else None,
                "frames_sent": self.track.frames_sent,
                "frame_codes_seen": self.source.codes_seen if self.source else 0,
                "stale_skipped": self.source.skipped if self.source else 0,
                "decoder_shed": self._decoding.shed if self._decoding else 0,
                "send_fps_asked": round(self.send_rate.fps, 1),
                "glass_to_glass": None if glass is None else
                {"p50_ms": glass["p50_ms"], "p95_ms": glass["p95_ms"],
                 "samples": glass["count"]}}

    # -- the end ----------------------------------------------------------------------------
    def close_soon(self, why: str) -> None:
        """Start ending the session (once; later calls do nothing)."""
        if self._closing is None:
            log.info("%s: closing (%s)", self.id, why)
            self._closing = asyncio.ensure_future(self._close())

    async def close(self) -> None:
        """End the session and wait until everything it held is released."""
        self.close_soon("closed by the server")
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        for task in (self._rate, self._watch):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        pipeline = self.pipeline
        if pipeline is None and self._loading is not None:
            await asyncio.wait({self._loading})  # a pipeline still loading: close it after
            if not self._loading.cancelled() and self._loading.exception() is None:
                pipeline = self._loading.result()
        if pipeline is not None:
            pipeline.stop()
        if self._run is not None and self._run is not asyncio.current_task():
            await asyncio.gather(self._run, return_exceptions=True)
        self.broadcast.finish()
        self.track.stop()
        await self.broadcast.audio.stop()
        await asyncio.gather(*(p.close() for p in self.publishers))
        await self.pc.close()
        if pipeline is not None:
            await asyncio.get_running_loop().run_in_executor(None, pipeline.close)
        self.closed.set()


class SessionManager:
    """The live sessions, at most `max_sessions` at once.

    An offer takes a place only once it passed validation (`Session.accept`), and gives
    it back as soon as its setup fails: offers that cannot become live never make the
    server busy."""

    def __init__(self, avatars: dict[str, AvatarBundle], max_sessions: int,
                 options: SessionOptions, cpu_sets: CpuSetPool | None = None) -> None:
        self.avatars = avatars
        self.max_sessions = max_sessions
        self.options = options
        self.sessions: dict[str, Session] = {}
        self.cpu_sets = cpu_sets or CpuSetPool(None)  # CPUs of their own, where enough

    @property
    def full(self) -> bool:
        """Whether every place is taken by a session that is loading or live."""
        return len(self.sessions) >= self.max_sessions

    def by_stream(self, stream: str) -> Session | None:
        return next((s for s in self.sessions.values() if s.stream == stream), None)

    def by_resource(self, resource: str) -> Session | None:
        """The session whose WHIP resource is `resource` (compared in constant time)."""
        return next((s for s in self.sessions.values()
                     if hmac.compare_digest(s.resource.encode(), resource.encode())), None)

    async def open(self, offer: RTCSessionDescription, avatar: str,
                   ingest_only: bool = False) -> Session:
        """A session answering `offer`. Raises InputError for an offer without video,
        ServerBusy when no place is left once it is validated, and SessionClosed when the
        session was stopped before its answer; each releases everything at once."""
        session = Session(self.avatars, avatar, self.options, ingest_only)
        try:
            await session.accept(offer)
            if self.full:
                raise ServerBusy(f"the server is busy: {self.max_sessions} session(s) live")
            self.sessions[session.id] = session
            session.cpus = self.cpu_sets.lease(session.id)
            await session.start()
        except BaseException:
            self.sessions.pop(session.id, None)
            self.cpu_sets.release(session.id)
            await session.close()
            raise
        asyncio.ensure_future(self._forget_when_closed(session))
        return session

    async def _forget_when_closed(self, session: Session) -> None:
        await session.closed.wait()
        self.sessions.pop(session.id, None)
        self.cpu_sets.release(session.id)

    async def close_all(self) -> None:
        await asyncio.gather(*(s.close() for s in list(self.sessions.values())))
        self.sessions.clear()
