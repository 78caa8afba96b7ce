"""A session's avatar for the performer and its audience: each finished frame rendered
once, encoded once per codec, and the same encoded frames sent to every receiver.

aiortc sends what a track gives it: frames, which each sender encodes on its own, or
encoded packets, which it only packetizes (`RTCRtpSender`, `Encoder.pack`). The tracks
here give packets, so a receiver costs packetizing, encryption and sending, not an
encoder: `Broadcast` keeps one `SharedEncoder` per codec its tracks negotiated. The
performer's own track (the one-connection path) is one of them, so a viewer watching in
the performer's codec adds no encoding at all.

* The newest frame wins: while the encoder works, newer frames replace older ones.
* A track takes frames once its sender starts reading it (a connection that never
  connects, or an answer that sends nothing, costs no encoding), from a keyframe it asks
  for then. One that falls `VIEWER_QUEUE` packets behind drops what it holds and waits for
  the next keyframe, which it asks for, so it never decodes a broken picture. A
  receiver's picture loss indication (RTCP PLI or FIR) asks for one too. Keyframes come
  at most one every `KEYFRAME_MIN_GAP` seconds whoever asks (a viewer joining waits that
  long at most), and every `KEYFRAME_EVERY` seconds anyway.
* Bitrate: each codec's encoder follows the lowest estimate its receivers report (RTCP
  REMB, as aiortc's own encoder does for one receiver), between `MIN_BITRATE` and
  `MAX_BITRATE`, constant within that (VP8), and re-opened (with a keyframe) when it
  moves by more than a tenth. `forward_receiver_feedback` hooks a sender's RTCP to it.
* An encoding error skips the frame and re-opens the encoder.
* `finish` ends every track.

The performer's audio goes to the viewers through `audio` (`server.audio`), delayed by
`latency()` and held while the picture stalls (`AudioRelay.picture_sent`).
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import statistics
import time
from collections.abc import Callable

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    unpack_remb_fci,
)

from engine.pipeline import LiveFrame
from engine.pipeline.slot import LatestSlot
from server.audio import AudioRelay
from server.tracks import VIDEO_CLOCK, FrameStamper

log = logging.getLogger(__name__)

KEYFRAME_EVERY = 2.0  # seconds between keyframes without a request
KEYFRAME_MIN_GAP = 0.25  # the least seconds between keyframes asked for
VIEWER_QUEUE = 30  # encoded frames a track may fall behind before it starts over
# bits a second of an encoder: at first, and the range receivers' estimates move it in
# (aiortc's own VP8 encoder: 500 kbps at first, 250 kbps to 1.5 Mbps)
BITRATE = 1_000_000
MIN_BITRATE = 250_000
MAX_BITRATE = 1_500_000
LATENCY_WINDOW = 5  # pictures whose median latency delays the audio
BITRATE_STEP = 0.1  # an estimate this share away from the encoder's bitrate re-opens it
# PyAV encoder and options per negotiated codec: realtime, no frames held back
ENCODERS = {
    "video/vp8": ("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                             "error-resilient": "1", "static-thresh": "1"}),
    "video/h264": ("libx264", {"preset": "ultrafast", "tune": "zerolatency", "bframes": "0",
                               "repeat-headers": "1"}),
}


class SharedEncoder:
    """One codec's encoder for a stream (runs in a worker thread, one call at a time)."""

    def __init__(self, codec: str, bitrate: int = BITRATE) -> None:
        if codec not in ENCODERS:
            raise ValueError(f"no shared encoder for {codec}")
        self.codec = codec
        self.bitrate = bitrate  # what the next opening uses (set from the event loop)
        self._context: av.VideoCodecContext | None = None
        self.frames = 0
        self.seconds = 0.0  # time spent encoding

    def _open(self, frame: av.VideoFrame) -> av.VideoCodecContext:
        name, options = ENCODERS[self.codec]
        context = av.CodecContext.create(name, "w")
        context.width, context.height = frame.width, frame.height
        context.pix_fmt = "yuv420p"
        context.bit_rate = bitrate = self.bitrate
        context.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        # at most the bitrate over any second (and at least it for VP8: constant bitrate,
        # as aiortc's own encoder), so that a receiver's estimate holds
        rate = {"maxrate": str(bitrate), "bufsize": str(bitrate)}
        if self.codec == "video/vp8":
            rate["minrate"] = str(bitrate)
        context.options = {**options, **rate}
        # one thread up to 640x480 (aiortc's own rule): its threads would take the CPUs
        # the pipeline renders on, and they inherit the name of the pool thread that
        # opened them
        context.thread_count = 1 if frame.width * frame.height <= 640 * 480 else 2
        if self.codec == "video/h264":
            context.profile = "Baseline"
        return context

    def close(self) -> None:
        """Free the codec and its threads (the next frame would open a new one)."""
        self._context = None

    def follow(self, estimate: float) -> bool:
        """Aim at a receiver's estimate (bits a second, kept within `MIN_BITRATE` ..
        `MAX_BITRATE`); True when it moves the encoder, which re-opens at its next frame."""
        target = int(min(max(estimate, MIN_BITRATE), MAX_BITRATE))
        if abs(target - self.bitrate) <= BITRATE_STEP * self.bitrate:
            return False
        self.bitrate = target
        return True

    def encode(self, frame: av.VideoFrame, keyframe: bool) -> list[av.Packet]:
        start = time.perf_counter()
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        context = self._context
        if context is None or (context.width, context.height) != (frame.width, frame.height) \
                or context.bit_rate != self.bitrate:
            context = self._context = self._open(frame)
            keyframe = True
        frame.pict_type = av.video.frame.PictureType.I if keyframe else \
            av.video.frame.PictureType.NONE
        packets = list(context.encode(frame))
        for packet in packets:
            packet.time_base = context.time_base
        self.frames += 1
        self.seconds += time.perf_counter() - start
        return packets


class ViewerTrack(MediaStreamTrack):
    """The avatar as one receiver gets it (a viewer, or the performer on its own
    connection): encoded packets from the stream's encoder."""

    kind = "video"

    def __init__(self, broadcast: Broadcast, performer: bool = False) -> None:
        super().__init__()
        self.broadcast = broadcast
        self.performer = performer  # the performer's own track, not counted as a viewer
        self.codec: str | None = None  # set when attached
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue()
        self.started = False  # its sender reads it: it takes frames
        self.waiting_for_keyframe = True
        self.estimate: float | None = None  # the receiver's bitrate estimate (REMB)
        self.frames_sent = 0
        self.restarts = 0  # times it fell behind and started over at a keyframe

    def begin(self) -> None:
        """Its sender started reading: frames go to it from the next keyframe."""
        if not self.started:
            self.started = True
            self.broadcast.keyframe_wanted = True

    def push(self, packets: list[av.Packet], keyframe: bool) -> None:
        """The encoded frame for this track (dropped until a keyframe when it must
        start over, and until its sender reads it)."""
        if not self.started or (self.waiting_for_keyframe and not keyframe):
            return
        if self._queue.qsize() >= VIEWER_QUEUE:
            while not self._queue.empty():
                self._queue.get_nowait()
            self.restarts += 1
            self.waiting_for_keyframe = True
            self.broadcast.keyframe_wanted = True
            return
        self.waiting_for_keyframe = False
        for packet in packets:
            self._queue.put_nowait(packet)

    def finish(self) -> None:
        """The stream ended: the track ends after what it holds, and says "finished"
        (its viewer closes then, even before the track was ever read)."""
        self._queue.put_nowait(None)
        self.emit("finished")

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        self.begin()
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        self.frames_sent += 1
        return packet

    def stop(self) -> None:
        self.broadcast.detach(self)
        super().stop()


class Broadcast:
    """The frames of one stream, encoded once per codec, for its tracks: the performer's
    own (the one-connection path) and its viewers'."""

    def __init__(self, stream: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self._clock = clock  # seconds, for the keyframes' timing
        self._viewers: set[ViewerTrack] = set()
        self._encoders: dict[str, SharedEncoder] = {}
        self._slot: LatestSlot[LiveFrame] = LatestSlot()
        self._worker: asyncio.Task | None = None
        self._stamp = FrameStamper()
        self._last_keyframe = -KEYFRAME_EVERY
        self.keyframe_wanted = True  # a track began, fell behind or lost a picture
        self.keyframe_requests = 0  # loss reports heard
        self.finished = False
        self.frames = 0  # frames encoded for the tracks
        # seconds from a camera frame's arrival to its avatar reaching the viewers, over
        # the last few pictures (the audio's delay: it follows a change of load at once)
        self._latencies: collections.deque[float] = collections.deque(maxlen=LATENCY_WINDOW)
        self.audio = AudioRelay(self.latency)

    def latency(self) -> float:
        """The recent median of the seconds from a camera frame's arrival at the server to
        its avatar frame going to the viewers (0 before any)."""
        return statistics.median(self._latencies) if self._latencies else 0.0

    @property
    def viewers(self) -> int:
        """The stream's viewers (the performer's own track is not one)."""
        return sum(not t.performer for t in self._viewers)

    def track(self, performer: bool = False) -> ViewerTrack:
        """A receiver's track, to attach once its codec is negotiated."""
        return ViewerTrack(self, performer)

    def request_keyframe(self) -> None:
        """A receiver lost a picture: a keyframe comes as soon as `KEYFRAME_MIN_GAP`
        allows."""
        self.keyframe_requests += 1
        self.keyframe_wanted = True

    def receiver_estimate(self, track: ViewerTrack, bitrate: float) -> None:
        """A track's receiver estimates it can take `bitrate` bits a second: its codec's
        encoder follows the lowest such estimate of the tracks in that codec."""
        track.estimate = bitrate
        encoder = self._encoders.get(track.codec or "")
        if encoder is None:
            return
        estimates = [t.estimate for t in self._viewers
                     if t.codec == track.codec and t.estimate is not None]
        if estimates and encoder.follow(min(estimates)):
            log.info("stream %s: %s at %d kbps", self.stream, track.codec,
                     encoder.bitrate // 1000)

    def attach(self, track: ViewerTrack, codec: str) -> None:
        """Start sending to `track` in `codec` (e.g. "video/vp8"), from a keyframe; a
        finished stream ends the track at once."""
        codec = codec.lower()
        if codec not in ENCODERS:
            raise ValueError(f"the viewers' codec {codec} cannot be shared")
        track.codec = codec
        if self.finished:
            track.finish()
            return
        self._encoders.setdefault(codec, SharedEncoder(codec))
        self._viewers.add(track)
        self.keyframe_wanted = True
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._encode_task())

    def detach(self, track: ViewerTrack) -> None:
        self._viewers.discard(track)

    async def publish(self, frame: LiveFrame) -> None:
        """The newest frame for the tracks (encoded in the background)."""
        if any(t.started for t in self._viewers) and not self._slot.closed:
            self._slot.put(frame)
        else:  # no track takes frames: the picture is out here
            self._picture_out(frame)

    def _picture_out(self, frame: LiveFrame) -> None:
        """`frame`'s avatar went to the tracks (or to none): its latency counts, and the
        audio of its moment may follow."""
        if frame.captured is not None:
            self._latencies.append(time.perf_counter() - frame.captured)
            self.audio.picture_sent(frame.captured)

    async def _encode_task(self) -> None:
        loop = asyncio.get_running_loop()
        while (frame := await self._slot.get()) is not None:
            started = [t for t in self._viewers if t.started]
            # the performer's codec first: its frames wait for no other encoder
            codecs = sorted({t.codec for t in started},
                            key=lambda c: not any(t.performer and t.codec == c
                                                  for t in started))
            if not codecs:
                continue
            now = self._clock()
            since = now - self._last_keyframe
            keyframe = since >= KEYFRAME_EVERY or (self.keyframe_wanted
                                                   and since >= KEYFRAME_MIN_GAP)
            if keyframe:
                self._last_keyframe = now
                self.keyframe_wanted = False
            video = self._stamp(frame)
            sent = False
            for codec in codecs:
                encoder = self._encoders[codec]
                try:
                    packets = await loop.run_in_executor(None, encoder.encode, video,
                                                         keyframe)
                except av.error.FFmpegError as exc:
                    log.warning("stream %s: %s could not encode a frame (%s): it starts "
                                "over", self.stream, codec, exc)
                    encoder.close()
                    self.keyframe_wanted = True
                    continue
                if not packets:
                    continue
                for track in [t for t in self._viewers if t.codec == codec]:
                    track.push(packets, keyframe)
                sent = True
            if sent:
                self._picture_out(frame)
            self.frames += 1
        for encoder in self._encoders.values():  # the stream ended
            encoder.close()

    def encode_ms(self) -> float | None:
        """Mean milliseconds per encoded frame, all codecs together (the performer's
        track's included)."""
        frames = sum(e.frames for e in self._encoders.values())
        seconds = sum(e.seconds for e in self._encoders.values())
        return round(seconds / frames * 1e3, 2) if frames else None

    def finish(self) -> None:
        """The stream ended: every track ends."""
        self.finished = True
        self._slot.close()
        self.audio.finish()
        for track in list(self._viewers):
            track.finish()
        self._viewers.clear()


def forward_receiver_feedback(sender: RTCRtpSender, track: ViewerTrack) -> bool:
    """Pass what `track`'s receiver reports to `sender` on to its stream: picture loss
    (RTCP PLI, FIR) and bitrate estimates (REMB). aiortc hands those to a sender's own
    encoder, and a sender of packets has none. Uses aiortc's private
    `RTCRtpSender._handle_rtcp_packet`; where a release lacks it, returns False and warns
    (the receiver then recovers at the next periodic keyframe, at the starting
    bitrate)."""
    own = getattr(sender, "_handle_rtcp_packet", None)
    if not callable(own):
        log.warning("this aiortc release has no RTCRtpSender._handle_rtcp_packet: picture "
                    "loss and bitrate reports do not reach the stream's encoder")
        return False

    async def handle(packet: object) -> None:
        await own(packet)
        if not isinstance(packet, RtcpPsfbPacket):
            return
        if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            track.broadcast.request_keyframe()
        elif packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:  # an application message that is not a REMB
                return
            if sender._ssrc in ssrcs:
                track.broadcast.receiver_estimate(track, bitrate)

    sender._handle_rtcp_packet = handle
    return True
