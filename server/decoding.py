"""The camera's encoded frames, latest first: a decoder that falls behind starts over.

aiortc's receiver hands every complete encoded frame to its decoder thread through an
unbounded queue. When the CPUs are oversubscribed the decoder falls behind, and every
frame after that is decoded (and then shown as the avatar) later and later. Video
frames depend on the ones before them, so a stale frame cannot simply be skipped:
`LatestDecoding` drops what waits and everything after it up to the next keyframe, and
asks the sender for one (aiortc sends a picture loss indication when its decoder error
flag is set, as for a frame that failed to decode). The decoder then resumes at the
newest picture instead of working through the backlog.

`use_latest_decoding(receiver)` puts one into an aiortc `RTCRtpReceiver` (a private
attribute of aiortc's; where a release renames it, the receiver is left as it is and a
warning says so). Call it before media flows, as `server.jitter`'s helpers.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver

log = logging.getLogger(__name__)

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"  # aiortc's RTCRtpReceiver.__decoder_queue
_DECODER_ERROR = "_RTCRtpReceiver__decoder_error"  # set: the receiver sends a PLI
BEHIND_FRAMES = 3  # encoded frames waiting for the decoder: it is behind (100 ms at 30 fps)
ASK_AGAIN_S = 0.5  # a keyframe asked for and not come: ask again after this long


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Whether an encoded frame (as aiortc depayloads it) can be decoded on its own:
    VP8's frame tag (RFC 6386 9.1: bit 0 is 0 for a key frame), H.264's IDR or sequence
    parameter set NAL unit (RFC 6184; Annex B start codes between units)."""
    name = mime_type.lower()
    if not data:
        return False
    if name == "video/vp8":
        return data[0] & 0x01 == 0
    if name == "video/h264":
        start = 0
        while (found := data.find(b"\x00\x00\x01", start)) >= 0 and found + 3 < len(data):
            if data[found + 3] & 0x1F in (5, 7):
                return True
            start = found + 3
        return False
    return True  # a codec without inter frames known here: never held back


class LatestDecoding(queue.Queue):
    """aiortc's decoder queue, shedding its backlog (see the module doc)."""

    def __init__(self, keyframe_wanted: threading.Event, behind: int = BEHIND_FRAMES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.keyframe_wanted = keyframe_wanted
        self.behind = behind
        self.clock = clock
        self.waiting_for_keyframe = False
        self._asked = 0.0
        self.shed = 0  # encoded frames dropped, queued or arriving, to start over
        self.restarts = 0

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the end, for the decoder thread
            super().put(item, block, timeout)
            return
        codec, frame = item
        key = is_keyframe(codec.mimeType, frame.data)
        if not self.waiting_for_keyframe and self.qsize() >= self.behind:
            with self.mutex:
                stale = [i for i in self.queue if i is not None]
                self.queue = type(self.queue)(i for i in self.queue if i is None)
            self.shed += len(stale)
            self.restarts += 1
            self.waiting_for_keyframe = not key
            log.info("the decoder is %d frames behind: starting over at %s", len(stale),
                     "this keyframe" if key else "the next keyframe")
        if self.waiting_for_keyframe:
            if not key:
                self.shed += 1
                now = self.clock()
                if now - self._asked >= ASK_AGAIN_S:
                    self._asked = now
                    self.keyframe_wanted.set()
                return
            self.waiting_for_keyframe = False
        super().put(item, block, timeout)


def use_latest_decoding(receiver: RTCRtpReceiver) -> LatestDecoding | None:
    """Give a video `receiver` a `LatestDecoding` queue and return it (None, receiver
    left alone, where aiortc keeps its queue elsewhere). Call it before media flows."""
    current = getattr(receiver, _DECODER_QUEUE, None)
    error = getattr(receiver, _DECODER_ERROR, None)
    if not isinstance(current, queue.Queue) or not isinstance(error, threading.Event):
        log.warning("this aiortc release keeps its decoder queue elsewhere: a decoder that "
                    "falls behind works through its backlog")
        return None
    if not current.empty():
        raise RuntimeError("use_latest_decoding must be called before media flows")
    decoding = LatestDecoding(error)
    setattr(receiver, _DECODER_QUEUE, decoding)
    return decoding
