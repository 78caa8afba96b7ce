"""The performer's audio (music) for the audience, played out in step with the avatar.

The avatar of a camera frame leaves the server some time after the frame arrived: the
pipeline's latency, then the shared encoder's (`Broadcast.latency()`, a running median).
The performer's audio is released to every viewer on its own media clock (the RTP
timestamps of its frames) from the first frame's arrival, that much later, so that sound
and picture leave together and network jitter is smoothed out on the way. The server's
audio receiver hands packets on as they arrive (no 80 ms prefetch: the schedule is the
buffer). Each viewer's connection encodes its audio (Opus) itself, cheap next to video.
The performer's own connection gets no audio back (it would echo).

A viewer's track keeps at most `MAX_QUEUE` frames; one that falls behind loses the oldest.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import time
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)
MAX_QUEUE = 250  # audio frames a viewer may hold (5 s of 20 ms frames)
RTP_WRAP = 1 << 32


class ViewerAudioTrack(MediaStreamTrack):
    """The performer's audio as one viewer receives it, each frame at its release time."""

    kind = "audio"

    def __init__(self, relay: AudioRelay) -> None:
        super().__init__()
        self.relay = relay
        self._queue: collections.deque[tuple[float, av.AudioFrame]] = collections.deque()
        self._ready = asyncio.Event()
        self._samples = 0  # this track's own clock, in samples
        self._ended = False
        self.frames_sent = 0

    def push(self, frame: av.AudioFrame, release: float) -> None:
        if len(self._queue) >= MAX_QUEUE:
            self._queue.popleft()
        self._queue.append((release, frame))
        self._ready.set()

    def end(self) -> None:
        self._ended = True
        self._ready.set()

    async def recv(self) -> av.AudioFrame:
        while not self._queue:
            if self._ended or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        release, frame = self._queue.popleft()
        wait = release - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        out = av.AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name,
                                         layout=frame.layout.name)
        out.sample_rate = frame.sample_rate
        out.pts = self._samples
        out.time_base = fractions.Fraction(1, frame.sample_rate)
        self._samples += frame.samples
        self.frames_sent += 1
        return out

    def stop(self) -> None:
        self.relay.detach(self)
        super().stop()


class AudioRelay:
    """The performer's audio track, read once and scheduled for every viewer's track."""

    def __init__(self, latency: Callable[[], float]) -> None:
        self.latency = latency  # seconds the avatar leaves after its camera frame arrived
        self._viewers: set[ViewerAudioTrack] = set()
        self._task: asyncio.Task | None = None
        self._anchor: float | None = None  # arrival time of media time 0
        self._first_pts: int | None = None
        self.frames = 0
        self.late = 0  # frames that arrived after their release time (re-anchored)
        self.ended = False

    @property
    def started(self) -> bool:
        return self._task is not None

    def start(self, track: MediaStreamTrack) -> None:
        """Read the performer's audio `track` (the first one; later ones are ignored)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run(track))

    def track(self) -> ViewerAudioTrack:
        viewer = ViewerAudioTrack(self)
        if self.ended:
            viewer.end()
        else:
            self._viewers.add(viewer)
        return viewer

    def detach(self, viewer: ViewerAudioTrack) -> None:
        self._viewers.discard(viewer)

    def _media_time(self, frame: av.AudioFrame) -> float:
        """Seconds of the frame on the performer's clock, from its first frame."""
        pts = frame.pts or 0
        if self._first_pts is None:
            self._first_pts = pts
        return ((pts - self._first_pts) % RTP_WRAP) * float(frame.time_base or
                                                            fractions.Fraction(1, 48000))

    def release_time(self, frame: av.AudioFrame, arrival: float) -> float:
        """When `frame` goes to the viewers: on its media clock from the earliest arrival
        seen, plus the avatar's latency. A frame over 0.2 s behind that moves it on."""
        media = self._media_time(frame)
        start = arrival - media  # when media time 0 would have arrived, by this frame
        if self._anchor is None or start < self._anchor:  # the earliest seen: least jitter
            self._anchor = start
        elif start > self._anchor + 0.2:  # far behind its schedule: a new one from here
            self.late += 1
            self._anchor = start
        return self._anchor + media + self.latency()

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                release = self.release_time(frame, time.perf_counter())
                self.frames += 1
                for viewer in list(self._viewers):
                    viewer.push(frame, release)
        except MediaStreamError:
            pass
        finally:
            self.finish()

    def finish(self) -> None:
        self.ended = True
        for viewer in list(self._viewers):
            viewer.end()
        self._viewers.clear()

    async def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.finish()
