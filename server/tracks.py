"""aiortc media tracks <-> the live pipeline.

* `TrackSource` turns the browser's incoming video track into a pipeline source: each
  decoded frame becomes RGB (in a worker thread), its frame code (if the page drew one)
  becomes the frame's `id`.
* `FrameStamper` turns finished frames into the `av.VideoFrame`s the stream's encoder
  takes (`server.broadcast`): the frame code drawn back in, stamped with the time they
  were produced.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import time

import av
import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from engine.pipeline import LiveFrame
from server import framecode
from server.videoframes import video_frame

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000  # RTP video clock rate, Hz
# aiortc's RTCRtpReceiver.__decoder_queue: encoded frames waiting for its decoder thread
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"


class TrackSource:
    """The pipeline's source: frames of an aiortc video track until it ends."""

    def __init__(self, track: MediaStreamTrack, receiver: RTCRtpReceiver | None = None) -> None:
        self.track = track
        self.receiver = receiver  # the track's receiver, for its decoder's queue
        self._index = 0
        self._ended = False
        self.codes_seen = 0
        self.skipped = 0  # decoded frames already stale when read (the newest was taken)

    @property
    def waiting(self) -> int:
        """Frames that arrived and wait to be read: encoded ones queued for the decoder
        (when the receiver was given) and decoded ones queued on the track."""
        count = 0
        decoder_queue = getattr(self.receiver, _DECODER_QUEUE, None)
        if isinstance(decoder_queue, queue.Queue):
            count += decoder_queue.qsize()
        track_queue = getattr(self.track, "_queue", None)
        if isinstance(track_queue, asyncio.Queue):
            count += track_queue.qsize()
        return count

    async def _newest(self) -> av.VideoFrame | None:
        """The next frame, or a newer one when several wait: aiortc's receiver queues
        every decoded frame without bound, so a busy server would fall further and
        further behind; here stale frames are skipped before any work is spent on them."""
        if self._ended:
            return None
        try:
            frame = await self.track.recv()
        except MediaStreamError:
            return None
        queue = getattr(self.track, "_queue", None)  # aiortc's RemoteStreamTrack
        while isinstance(queue, asyncio.Queue) and not queue.empty():
            newer = queue.get_nowait()
            if newer is None:  # the track ended behind the frame we hold
                self._ended = True
                break
            frame = newer
            self.skipped += 1
        return frame

    @staticmethod
    def _convert(frame: av.VideoFrame) -> tuple[np.ndarray, int | None]:
        image = frame.to_ndarray(format="rgb24")
        return image, framecode.read(image)

    async def recv(self) -> LiveFrame | None:
        frame = await self._newest()
        if frame is None:
            return None
        captured = time.perf_counter()
        loop = asyncio.get_running_loop()
        image, code = await loop.run_in_executor(None, self._convert, frame)
        if code is not None:
            self.codes_seen += 1
        out = LiveFrame(self._index, image, captured=captured, id=code)
        self._index += 1
        return out


class FrameStamper:
    """Finished frames as the `av.VideoFrame`s the stream's encoder takes: the frame code
    drawn back in (where the frame is large enough to carry it), stamped on the RTP video
    clock from the first frame on."""

    def __init__(self) -> None:
        self._start: float | None = None

    def __call__(self, frame: LiveFrame) -> av.VideoFrame:
        image = frame.output
        if frame.id is not None and framecode.fits(image):
            image = framecode.draw(image.copy(), frame.id)
        out = video_frame(image)
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        out.pts = int((now - self._start) * VIDEO_CLOCK)
        out.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return out
