"""A loopback WebRTC client: sends a synthetic performer, collects the avatar it gets back.

Used by the tests and the load benchmark in place of a browser: the camera track draws
the frame code into each frame it sends (as the page does), and every received frame's
code gives the round trip from capture to arrival. Like the page, it opens the session's
control channel and sends as many camera frames a second as the server asks for.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import logging
import time
from collections import deque

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server import framecode
from server.jitter import (
    MarkerJitterBuffer,
    use_audio_without_prefetch,
    use_marker_jitter_buffer,
)
from server.peer import only_codec
from server.sendrate import FramePacer
from server.session import CONTROL_CHANNEL
from server.tracks import TrackSource
from server.videoframes import video_frame
from synth.clip import ClipSpec, synthesize

log = logging.getLogger(__name__)
CAMERA_FPS = 30
TIMELINE_FRAMES = 36_000  # 20 minutes at CAMERA_FPS


def performer_frames(seconds: float = 2.0, size: int = 256, fps: int = 15) -> list:
    """(frame, keypoints) pairs of the synthetic performer dancing."""
    spec = ClipSpec(actor="performer", motion="dance", seconds=seconds, size=size, fps=fps,
                    seed=4)
    return list(synthesize(spec))


class PerformerTrack(VideoStreamTrack):
    """Synthetic camera: the clip's frames in a loop at 30 fps, each with its frame code;
    of those, `pacer.fps` a second are sent."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__()
        self.frames = frames
        self.sent: dict[int, float] = {}
        # (when, frame count) of every frame sent, the count's frame being
        # frames[count % len(frames)]: the performer's motion as it went out
        self.timeline: deque[tuple[float, int]] = deque(maxlen=TIMELINE_FRAMES)
        self.count = 0
        self.pacer = FramePacer(CAMERA_FPS)

    async def recv(self) -> av.VideoFrame:
        while True:
            pts, time_base = await self.next_timestamp()
            if self.pacer.take(time.perf_counter()):
                break
        image = self.frames[self.count % len(self.frames)].copy()
        code = self.count % framecode.MODULO
        if framecode.fits(image):
            framecode.draw(image, code)
            self.sent[code] = time.perf_counter()
        self.timeline.append((time.perf_counter(), self.count))
        self.count += 1
        frame = video_frame(image)
        frame.pts, frame.time_base = pts, time_base
        return frame


def frame_rate(times: list[float]) -> float:
    """Frames per second of frames that came at `times` (seconds, in order)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


class ClickTrack(MediaStreamTrack):
    """Music for the sync measurement: 20 ms frames of silence (48 kHz mono), with a click
    (`CLICK_MS` of full scale) starting a frame every `every` seconds; `clicks` holds when
    each click was handed to the connection (perf_counter)."""

    kind = "audio"
    RATE = 48_000
    SAMPLES = 960  # 20 ms
    CLICK_MS = 10

    def __init__(self, every: float = 1.0) -> None:
        super().__init__()
        self.every = every
        self.clicks: list[float] = []
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.perf_counter()
        due = self._start + self._sent / self.RATE
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        samples = np.zeros((1, self.SAMPLES), np.int16)
        period = int(self.every * self.RATE)
        click = self._sent % period < self.SAMPLES
        if click:
            samples[0, :self.RATE * self.CLICK_MS // 1000] = 30000
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.RATE)
        self._sent += self.SAMPLES
        if click:
            self.clicks.append(time.perf_counter())
        return frame


def click_arrivals(frames: list[tuple[float, np.ndarray]], gap: float = 0.3) -> list[float]:
    """When clicks arrived: the arrival of each frame whose loudest sample is over half
    scale, at least `gap` seconds after the previous click."""
    out: list[float] = []
    for arrival, samples in frames:
        if np.abs(samples.astype(np.int32)).max() > 16000 and (not out or
                                                             arrival - out[-1] > gap):
            out.append(arrival)
    return out


class LoopbackClient:
    """The page's part: camera out, avatar back on one connection (`direction`
    "sendrecv"), or a WHIP client's: camera out only ("sendonly", no control channel);
    with `audio`, that track goes out too (send only)."""

    def __init__(self, frames: list[np.ndarray], direction: str = "sendrecv",
                 audio: MediaStreamTrack | None = None, codec: str | None = None) -> None:
        """`codec` ("H264", ...): offer that video codec alone (default: aiortc's all)."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio = audio
        self.direction = direction
        self.codec = codec
        self.camera = PerformerTrack(frames)
        self.received: list[tuple[float, np.ndarray]] = []
        self.received_codes: list[int | None] = []  # the frame code of each received frame
        self.round_trips: list[tuple[float, float]] = []  # (arrival, seconds since capture)
        self.poses: list[list] = []  # poses the server sent (while the overlay is on)
        self.pose_codes: list[int | None] = []  # the frame code each pose was drawn into
        self._reader: asyncio.Task | None = None
        self.control = None
        if direction == "sendrecv":
            self.control = self.pc.createDataChannel(CONTROL_CHANNEL)
            self.control.on("message", self._on_control)

    def _on_control(self, message: str | bytes) -> None:
        try:
            msg = json.loads(message)
        except ValueError:
            log.warning("ignored a control message that is not JSON: %.80r", message)
            return
        if "pose" in msg:
            self.poses.append(msg["pose"])
            self.pose_codes.append(msg.get("code"))
        if isinstance(msg.get("send_fps"), int | float) and msg["send_fps"] > 0:
            self.camera.pacer.fps = min(CAMERA_FPS, float(msg["send_fps"]))

    def show_overlay(self, on: bool) -> None:
        """Ask for the pose of each frame (as the page's overlay switch does)."""
        self.control.send(json.dumps({"overlay": on}))

    async def offer(self) -> dict:
        transceiver = self.pc.addTransceiver(self.camera, direction=self.direction)
        if self.codec is not None:
            transceiver.setCodecPreferences(only_codec(self.codec))
        if self.audio is not None:
            self.pc.addTransceiver(self.audio, direction="sendonly")
        use_marker_jitter_buffer(transceiver.receiver)  # as a browser: no frame held back

        @self.pc.on("track")
        def on_track(track) -> None:  # noqa: ANN001
            self._reader = asyncio.ensure_future(self._read(track))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def answer(self, body: dict) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))

    async def _read(self, track) -> None:  # noqa: ANN001
        source = TrackSource(track)  # decodes the newest frame, skipping stale ones
        while (frame := await source.recv()) is not None:
            self.received.append((frame.captured, frame.image))
            self.received_codes.append(frame.id)
            if frame.id is not None and frame.id in self.camera.sent:
                self.round_trips.append(
                    (frame.captured, frame.captured - self.camera.sent[frame.id]))

    def round_trips_since(self, start: float) -> list[float]:
        """Round trips (seconds) of the frames that arrived from `start` (perf_counter) on."""
        return [rt for t, rt in self.round_trips if t >= start]

    def received_fps(self, skip_seconds: float = 1.0, start: float | None = None) -> float:
        """Frames per second received after the first `skip_seconds` of the stream (or
        from `start`, perf_counter, on)."""
        times = [t for t, _ in self.received]
        if len(times) < 2:
            return 0.0
        since = times[0] + skip_seconds if start is None else start
        return frame_rate([t for t in times if t >= since])

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class _Discard:
    """Stands for an aiortc receiver's decoder queue: takes encoded frames and drops them,
    passing only the end (None) on to the decoder thread so that it stops."""

    def __init__(self, decoder_queue: object) -> None:
        self.decoder_queue = decoder_queue

    def put(self, item: object) -> None:
        if item is None:
            self.decoder_queue.put(None)

    def qsize(self) -> int:
        return 0


def discard_encoded_frames(receiver: object) -> bool:
    """Make an aiortc receiver drop its encoded frames instead of decoding them (a
    private attribute of aiortc's; False where it is not found)."""
    name = "_RTCRtpReceiver__decoder_queue"
    if not hasattr(receiver, name):
        return False
    setattr(receiver, name, _Discard(getattr(receiver, name)))
    return True


class LoopbackViewer:
    """A WHEP player: receives a stream's avatar, and the arrival time of each frame code
    (compared with the performer's capture times, the viewer's round trip); with `audio`,
    the stream's audio too, each frame with its arrival (no prefetch: arrival is timed)."""

    def __init__(self, audio: bool = False, decode: bool = True) -> None:
        """`decode=False`: frames are counted as they arrive whole, never decoded (no
        frame codes then): a player elsewhere, whose decoding costs this machine nothing."""
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.decode = decode
        self.arrivals: MarkerJitterBuffer | None = None
        self.received: list[tuple[float, int | None]] = []  # (arrival, frame code)
        self.audio: list[tuple[float, np.ndarray]] | None = [] if audio else None
        self._reader: asyncio.Task | None = None
        self._audio_reader: asyncio.Task | None = None

    async def offer(self) -> str:
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        self.arrivals = use_marker_jitter_buffer(transceiver.receiver)
        if not self.decode:
            discard_encoded_frames(transceiver.receiver)
        if self.audio is not None:
            use_audio_without_prefetch(
                self.pc.addTransceiver("audio", direction="recvonly").receiver)

        @self.pc.on("track")
        def on_track(track) -> None:  # noqa: ANN001
            if track.kind == "audio":
                self._audio_reader = asyncio.ensure_future(self._read_audio(track))
            else:
                self._reader = asyncio.ensure_future(self._read(track))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def _read(self, track) -> None:  # noqa: ANN001
        source = TrackSource(track)
        while (frame := await source.recv()) is not None:
            self.received.append((frame.captured, frame.id))

    async def _read_audio(self, track) -> None:  # noqa: ANN001
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.audio.append((time.perf_counter(), frame.to_ndarray()))

    def fps(self, start: float) -> float:
        """Frames received per second from `start` (perf_counter) on (decoded ones; see
        `arrivals.frames` for a viewer that does not decode)."""
        return frame_rate([t for t, _ in self.received if t >= start])

    async def close(self) -> None:
        await self.pc.close()
        for task in (self._reader, self._audio_reader):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
