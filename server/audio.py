"""The performer's audio (music) for the audience, played out in step with the avatar.

Each audio frame gets a due time: its arrival on the performer's own media clock (the
RTP timestamps of its frames) from the earliest arrival seen, so that network jitter
does not reach the viewers. A frame goes to the viewers once the avatar of a camera
frame that arrived at the server no earlier than that has gone to them
(`AudioRelay.picture_sent`, from the stream's encoder): sound follows the picture that
actually leaves, however much a loaded machine holds the picture back, rather than an
estimate of its delay. Where no picture comes (the pipeline not started, or stalled),
a frame waits at most the avatar's recent latency (`Broadcast.latency()`) plus
`PICTURE_WAIT_S`. The server's audio receiver hands packets on as they arrive (no 80 ms
prefetch: the schedule is the buffer). Each viewer's connection encodes its audio
(Opus) itself, cheap next to video. The performer's own connection gets no audio back
(it would echo).

A viewer's track keeps at most `MAX_QUEUE` frames; one that falls behind loses the oldest.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import math
import time
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)
MAX_QUEUE = 250  # audio frames a viewer may hold (5 s of 20 ms frames)
RTP_WRAP = 1 << 32
PICTURE_WAIT_S = 0.5  # past the avatar's recent latency, audio waits no longer for it
LATE_S = 0.2  # a frame this far behind its due time starts a new schedule from itself


class ViewerAudioTrack(MediaStreamTrack):
    """The performer's audio as one viewer receives it, each frame once the picture of
    its moment has gone out."""

    kind = "audio"

    def __init__(self, relay: AudioRelay) -> None:
        super().__init__()
        self.relay = relay
        self._queue: collections.deque[tuple[float, av.AudioFrame]] = collections.deque()
        self._ready = asyncio.Event()
        self._samples = 0  # this track's own clock, in samples
        self._ended = False
        self.frames_sent = 0

    def push(self, frame: av.AudioFrame, due: float) -> None:
        if len(self._queue) >= MAX_QUEUE:
            self._queue.popleft()
        self._queue.append((due, frame))
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
        due, frame = self._queue.popleft()
        await self.relay.wait_for_picture(due)
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
        self.picture_through: float | None = None  # arrival of the newest camera frame out
        self._picture = asyncio.Event()  # set (and replaced) when a picture goes out
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

    def due_time(self, frame: av.AudioFrame, arrival: float) -> float:
        """When `frame` would have arrived without network jitter: on its media clock from
        the earliest arrival seen. A frame over `LATE_S` behind that starts a new schedule
        (the performer's clock jumped, or its audio paused)."""
        media = self._media_time(frame)
        start = arrival - media  # when media time 0 would have arrived, by this frame
        if self._anchor is None or start < self._anchor:  # the earliest seen: least jitter
            self._anchor = start
        elif start > self._anchor + LATE_S:
            self.late += 1
            self._anchor = start
        return self._anchor + media

    def picture_sent(self, arrival: float) -> None:
        """The avatar of the camera frame that arrived at `arrival` (perf_counter) went to
        the viewers: audio due up to then may follow."""
        if self.picture_through is None or arrival > self.picture_through:
            self.picture_through = arrival
            self._picture.set()
            self._picture = asyncio.Event()

    async def wait_for_picture(self, due: float) -> None:
        """Until the picture of the moment `due` has gone out, or for the avatar's recent
        latency and `PICTURE_WAIT_S` past `due` where no picture comes."""
        deadline = due + self.latency() + PICTURE_WAIT_S
        while self.picture_through is None or self.picture_through < due:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._picture.wait(), left)
            except TimeoutError:
                return

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                due = self.due_time(frame, time.perf_counter())
                self.frames += 1
                for viewer in list(self._viewers):
                    viewer.push(frame, due)
        except MediaStreamError:
            pass
        finally:
            self.finish()

    def finish(self) -> None:
        self.ended = True
        self.picture_through = math.inf  # no picture will come: audio held for one goes
        self._picture.set()
        for viewer in list(self._viewers):
            viewer.end()
        self._viewers.clear()

    async def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.finish()
