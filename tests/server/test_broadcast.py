"""A stream's frames encoded once for the performer's own track and every viewer: tracks
that take frames only once read, keyframes on joins and loss reports at most one per gap,
bitrates that follow the receivers' estimates."""

from __future__ import annotations

import asyncio

import numpy as np
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RTCP_PSFB_PLI, RtcpPsfbPacket, pack_remb_fci

from engine.pipeline import LiveFrame
from server import broadcast as bc
from server.decoding import is_keyframe

VP8 = "video/vp8"


def _frame(index: int) -> LiveFrame:
    image = np.random.default_rng(index).integers(0, 255, (64, 64, 3), np.uint8)
    frame = LiveFrame(index, image)
    frame.output = image
    return frame


async def _publish(stream: bc.Broadcast, count: int) -> None:
    """`count` frames, each encoded before the next (none when no track takes frames)."""
    for i in range(count):
        done = stream.frames
        await stream.publish(_frame(i))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if stream.frames > done:
                break


def _drain(track: bc.ViewerTrack) -> list:
    packets = []
    while not track._queue.empty():
        packets.append(track._queue.get_nowait())
    return packets


def _kinds(track: bc.ViewerTrack) -> list[bool]:
    return [is_keyframe(VP8, bytes(p)) for p in _drain(track)]


def _joined(stream: bc.Broadcast, performer: bool = False) -> bc.ViewerTrack:
    track = stream.track(performer=performer)
    stream.attach(track, VP8)
    track.begin()  # as its sender's first read does
    return track


def test_the_performer_and_its_viewers_share_one_encoder() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        performer = _joined(stream, performer=True)
        viewers = [_joined(stream) for _ in range(2)]
        assert stream.viewers == 2  # the performer's own track is not a viewer
        await _publish(stream, 6)
        encoder = stream._encoders[VP8]
        assert encoder.frames == stream.frames == 6  # once per frame, not per receiver
        got = [_drain(t) for t in (performer, *viewers)]
        assert [len(g) for g in got] == [6, 6, 6]
        assert all(a is b for a, b in zip(got[0], got[1], strict=True))  # the same packets
        assert is_keyframe(VP8, bytes(got[0][0]))
        assert encoder._context is not None
        stream.finish()
        await asyncio.sleep(0.05)
        assert encoder._context is None  # the ended stream's codec is freed
        assert all(t._queue.get_nowait() is None for t in (performer, *viewers))  # ended

    asyncio.run(main())


def test_a_track_nobody_reads_costs_no_encoding() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        idle = stream.track(performer=True)  # e.g. an answer that sends nothing
        stream.attach(idle, VP8)
        await _publish(stream, 3)
        assert stream.frames == 0 and idle._queue.empty()
        idle.begin()
        await _publish(stream, 2)
        assert stream.frames == 2 and _kinds(idle) == [True, False]
        stream.finish()

    asyncio.run(main())


def test_each_picture_out_lets_the_audio_of_its_moment_follow() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        frame = _frame(0)
        await stream.publish(frame)  # no track takes frames: the picture is out at once
        assert stream.audio.picture_through == frame.captured
        _joined(stream)
        later = _frame(1)
        done = stream.frames
        await stream.publish(later)
        assert stream.audio.picture_through == frame.captured  # not before it is encoded
        for _ in range(200):
            await asyncio.sleep(0.005)
            if stream.frames > done:
                break
        assert stream.audio.picture_through == later.captured
        stream.finish()

    asyncio.run(main())


def test_keyframes_come_at_most_once_per_gap_whoever_asks() -> None:
    async def main() -> None:
        now = [100.0]
        stream = bc.Broadcast("s", clock=lambda: now[0])
        performer = _joined(stream, performer=True)
        await _publish(stream, 1)  # the joining keyframe, at t=100
        late = _joined(stream)  # a viewer joins, and a receiver reports a lost picture
        stream.request_keyframe()
        now[0] += bc.KEYFRAME_MIN_GAP / 2
        await _publish(stream, 1)  # too soon after the last keyframe: a delta frame
        now[0] += bc.KEYFRAME_MIN_GAP
        await _publish(stream, 1)  # still wanted: now a keyframe, for both
        await _publish(stream, 1)  # and only one
        assert _kinds(performer) == [True, False, True, False]
        assert _kinds(late) == [True, False]  # the viewer started at that keyframe
        assert stream.keyframe_requests == 1
        now[0] += bc.KEYFRAME_EVERY
        await _publish(stream, 1)  # unasked, after KEYFRAME_EVERY
        assert _kinds(performer) == [True]
        stream.finish()

    asyncio.run(main())


def test_the_encoder_follows_the_lowest_estimate_of_its_receivers() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        performer = _joined(stream, performer=True)
        viewer = _joined(stream)
        await _publish(stream, 2)
        encoder = stream._encoders[VP8]
        assert encoder.bitrate == bc.BITRATE
        _drain(performer)
        stream.receiver_estimate(performer, 600_000)
        stream.receiver_estimate(viewer, 2_000_000)
        assert encoder.bitrate == 600_000  # the lowest
        await _publish(stream, 1)
        assert _kinds(performer) == [True]  # re-opened at the new bitrate
        stream.receiver_estimate(performer, 630_000)
        assert encoder.bitrate == 600_000  # within a tenth: left as it is
        stream.receiver_estimate(performer, 10_000)
        assert encoder.bitrate == bc.MIN_BITRATE
        stream.receiver_estimate(performer, 5e6)
        assert encoder.bitrate == bc.MAX_BITRATE  # the viewer's 2 Mbps, within the range
        stream.finish()

    asyncio.run(main())


class _Transport:  # what RTCRtpSender reads from its transport at construction
    state = "new"

    def _register_rtp_sender(self, *args: object) -> None:
        pass


def test_a_senders_loss_and_bitrate_reports_reach_the_stream() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        track = stream.track(performer=True)
        stream.attach(track, VP8)
        sender = RTCRtpSender(track, _Transport())
        assert bc.forward_receiver_feedback(sender, track)
        ssrc = sender._ssrc
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1,
                                                        media_ssrc=ssrc))
        assert stream.keyframe_requests == 1
        remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0,
                              fci=pack_remb_fci(400_000, [ssrc]))
        await sender._handle_rtcp_packet(remb)
        assert track.estimate == 400_000 and stream._encoders[VP8].bitrate == 400_000
        other = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0,
                               fci=pack_remb_fci(300_000, [ssrc + 1]))
        await sender._handle_rtcp_packet(other)  # about another stream: not ours
        assert track.estimate == 400_000
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1,
                                                        media_ssrc=0, fci=b"junk"))
        assert track.estimate == 400_000
        stream.finish()

    asyncio.run(main())


def test_without_the_private_hook_reports_are_left_alone(caplog) -> None:
    class _Sender:
        pass

    stream = bc.Broadcast("s")
    assert not bc.forward_receiver_feedback(_Sender(), stream.track())  # type: ignore[arg-type]
    assert "do not reach the stream's encoder" in caplog.text
