"""The performer's audio (music) for the audience, played out in step with the avatar.

Each audio frame gets a due time: its arrival on the performer's own media clock (the
RTP timestamps of its frames) from the earliest arrival seen, so that network jitter
does not reach the viewers. It goes to the viewers the avatar's latency after that
(`Broadcast.latency()`: from a camera frame's arrival to its avatar going out, the
median of the last few pictures, so that it follows a machine whose load changes), one
frame every 20 ms as the schedule says. A picture that stalls holds the sound with it:
a frame whose moment's picture is over `STALL_S` from having gone out
(`AudioRelay.picture_sent`, from the stream's encoder) waits for it, `PICTURE_WAIT_S`
at most. The server's audio receiver hands packets on as they arrive (no 80 ms
prefetch: the schedule is the buffer). Each viewer's connection encodes its audio
(Opus) itself, cheap next to video. The performer's own connection gets no audio back
(it would echo).

A viewer's track keeps at most `MAX_QUEUE` frames; one that falls behind loses the
oldest, and frames over `STALE_S` past their release time are left out (a viewer that
joins, or a sender that stalled, starts with the sound of now, not a backlog).
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
STALL_S = 0.15  # audio waits for a picture this far behind its moment (a stall)
PICTURE_WAIT_S = 0.5  # past its release time, audio waits no longer for a picture
LATE_S = 0.2  # a frame this far behind its due time starts a new schedule from itself
STALE_S = 0.2  # a frame this far past its release time is left out


class ViewerAudioTrack(MediaStreamTrack):
    """The performer's audio as one viewer receives it, each frame at its release time
    (`AudioRelay.wait_for_release`)."""

    kind = "audio"

    def __init__(self, relay: AudioRelay) -> None:
        super().__init__()
        self.relay = relay
        self._queue: collections.deque[tuple[float, av.AudioFrame]] = collections.deque()
        self._ready = asyncio.Event()
        self._samples = 0  # this track's own clock, in samples
        self._ended = False
        self.frames_sent = 0
        self.frames_stale = 0  # left out, over STALE_S past their release time

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
        while self._queue and self.relay.stale(due):
            self.frames_stale += 1
            due, frame = self._queue.popleft()
        await self.relay.wait_for_release(due)
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
        self.late = 0  # frames over LATE_S behind their due time (re-anchored)
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
        the viewers."""
        if self.picture_through is None or arrival > self.picture_through:
            self.picture_through = arrival
            self._picture.set()
            self._picture = asyncio.Event()

    def release_time(self, due: float) -> float:
        """When a frame due at `due` goes out: the avatar's recent latency after it."""
        return due + self.latency()

    def stale(self, due: float) -> bool:
        """Whether a frame due at `due` is over `STALE_S` past its release time."""
        return time.perf_counter() > self.release_time(due) + STALE_S

    async def wait_for_release(self, due: float) -> None:
        """Until the release time of a frame due at `due` (the avatar's recent latency
        after it) and, while no picture has gone out or the picture has stalled over
        `STALL_S` short of that moment, until it comes, `PICTURE_WAIT_S` past the release
        time at most."""
        release = self.release_time(due)
        wait = release - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        deadline = release + PICTURE_WAIT_S
        while self.picture_through is None or self.picture_through < due - STALL_S:
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            try:
                async with asyncio.timeout(left):
                    await self._picture.wait()
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
