"""A video jitter buffer that hands a frame on as soon as its last packet arrives.

aiortc's receiver reassembles a video frame from its RTP packets and decodes it only when
the first packet of the *next* frame arrives (a change of RTP timestamp is its only
sign that a frame is complete). A live stream thus waits one frame interval, 33 ms at
30 frames/s, before decoding can even start. Senders mark the last packet of each video
frame with the RTP marker bit (RFC 3550; VP8: RFC 7741, H.264: RFC 6184), as browsers
do: `MarkerJitterBuffer` ends a frame there, and still on a timestamp change when the
marked packet is lost. Out-of-order packets and losses are handled as before: a frame is
handed on only when every packet from the buffer's start to its end has arrived.

`use_marker_jitter_buffer(receiver)` puts one into an aiortc `RTCRtpReceiver` (a
private attribute of aiortc's; where a release renames it, the receiver is left as it is
and a warning says so). The buffer counts the frames it completes (`frames`): what
arrived whole, before any decoding.

`use_audio_without_prefetch(receiver)` does the like for audio: aiortc holds four packets
(80 ms) before it hands the first on.
"""

from __future__ import annotations

import logging

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

log = logging.getLogger(__name__)

_RECEIVER_BUFFER = "_RTCRtpReceiver__jitter_buffer"  # aiortc's RTCRtpReceiver.__jitter_buffer
VIDEO_CAPACITY = 512  # packets, as aiortc's own video buffer


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video `JitterBuffer`, with frames also ending at their marked packet."""

    def __init__(self, capacity: int = VIDEO_CAPACITY) -> None:
        super().__init__(capacity=capacity, is_video=True)
        self.frames = 0  # frames completed and handed on

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list = []
        timestamp = None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None  # a gap: wait for the missing packet
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:  # the marked packet was lost
                return self._take(packets, timestamp, count)
            packets.append(packet)
            if packet.marker:
                return self._take(packets, timestamp, count + 1)
        return None

    def _take(self, packets: list, timestamp: int, count: int) -> JitterFrame:
        frame = JitterFrame(data=b"".join(p._data for p in packets), timestamp=timestamp)
        self.remove(count)
        self.frames += 1
        return frame


def use_marker_jitter_buffer(receiver: RTCRtpReceiver) -> MarkerJitterBuffer | None:
    """Give a video `receiver` a `MarkerJitterBuffer` and return it; call it before media
    flows. Returns None (and leaves the receiver alone) where aiortc has no such
    attribute."""
    if not isinstance(getattr(receiver, _RECEIVER_BUFFER, None), JitterBuffer):
        log.warning("this aiortc release keeps its jitter buffer elsewhere: video frames "
                    "are decoded one frame interval later")
        return None
    buffer = MarkerJitterBuffer()
    setattr(receiver, _RECEIVER_BUFFER, buffer)
    return buffer


AUDIO_CAPACITY = 16  # aiortc's own for audio


def use_audio_without_prefetch(receiver: RTCRtpReceiver) -> bool:
    """Let an audio `receiver` hand each packet on as it arrives: aiortc holds 4 (80 ms)
    first to absorb jitter. Where audio is played out on a schedule of its own (the
    audience's relay) or only timed (the benchmarks' viewer), that holding only adds
    delay. False (receiver left alone) where aiortc has no such attribute."""
    if not isinstance(getattr(receiver, _RECEIVER_BUFFER, None), JitterBuffer):
        return False
    setattr(receiver, _RECEIVER_BUFFER, JitterBuffer(capacity=AUDIO_CAPACITY, prefetch=0))
    return True
