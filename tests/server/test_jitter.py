"""The marker-bit jitter buffer: frames leave as soon as they are complete."""

from __future__ import annotations

from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from server.jitter import MarkerJitterBuffer, use_marker_jitter_buffer


def _packet(seq: int, timestamp: int, marker: bool = False) -> RtpPacket:
    p = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    p._data = bytes([seq % 256])  # the depayloaded data, as aiortc's receiver sets it
    return p


def _feed(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, bytes, int]]:
    """(index of the packet that completed a frame, frame data, frame timestamp)."""
    out = []
    for i, p in enumerate(packets):
        _, frame = buffer.add(p)
        if frame is not None:
            out.append((i, frame.data, frame.timestamp))
    return out


def test_a_frame_leaves_with_its_marked_packet_not_with_the_next_frame() -> None:
    packets = [_packet(10, 900), _packet(11, 900), _packet(12, 900, marker=True),
               _packet(13, 3900), _packet(14, 3900, marker=True), _packet(15, 6900)]
    buffer = MarkerJitterBuffer()
    assert _feed(buffer, packets) == [(2, b"\x0a\x0b\x0c", 900), (4, b"\x0d\x0e", 3900)]
    assert buffer.frames == 2  # counted as they complete
    # aiortc's own buffer: each frame waits for the next frame's first packet.
    assert _feed(JitterBuffer(capacity=512, is_video=True), packets) == [
        (3, b"\x0a\x0b\x0c", 900), (5, b"\x0d\x0e", 3900)]


def test_a_late_packet_holds_its_frame_until_it_arrives() -> None:
    packets = [_packet(100, 0), _packet(102, 0, marker=True), _packet(101, 0),
               _packet(103, 3000, marker=True)]
    assert _feed(MarkerJitterBuffer(), packets) == [(2, b"\x64\x65\x66", 0),
                                                    (3, b"\x67", 3000)]


def test_a_lost_marker_falls_back_to_the_timestamp_change() -> None:
    packets = [_packet(7, 0), _packet(8, 0), _packet(9, 3000), _packet(10, 3000, marker=True)]
    assert _feed(MarkerJitterBuffer(), packets) == [(2, b"\x07\x08", 0), (3, b"\x09\x0a", 3000)]


def test_sequence_numbers_wrap_around() -> None:
    packets = [_packet(65534, 5, marker=True), _packet(65535, 9), _packet(0, 9, marker=True)]
    assert _feed(MarkerJitterBuffer(), packets) == [(0, b"\xfe", 5), (2, b"\xff\x00", 9)]


def test_a_receiver_gets_the_buffer() -> None:
    class Transport:  # what RTCRtpReceiver reads from its transport at construction
        state = "new"

        def _register_rtp_receiver(self, *args: object) -> None:
            pass

    receiver = RTCRtpReceiver("video", Transport())
    buffer = use_marker_jitter_buffer(receiver)
    assert isinstance(buffer, MarkerJitterBuffer)
    assert receiver._RTCRtpReceiver__jitter_buffer is buffer
