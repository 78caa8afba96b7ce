"""A stream's frames encoded once for the performer's own track and every viewer, keyframes
on joins and on receivers' loss reports."""

from __future__ import annotations

import asyncio

import numpy as np
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket

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
    for i in range(count):
        done = stream.frames
        await stream.publish(_frame(i))
        for _ in range(200):  # let the encoder take it before the next one replaces it
            await asyncio.sleep(0.005)
            if stream.frames > done:
                break


def _drain(track: bc.ViewerTrack) -> list:
    packets = []
    while not track._queue.empty():
        packets.append(track._queue.get_nowait())
    return packets


def test_the_performer_and_its_viewers_share_one_encoder() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        performer = stream.track(performer=True)
        stream.attach(performer, VP8)
        viewers = [stream.track() for _ in range(2)]
        for v in viewers:
            stream.attach(v, VP8)
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


def test_a_late_viewer_starts_at_a_keyframe() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        performer = stream.track(performer=True)
        stream.attach(performer, VP8)
        await _publish(stream, 3)
        assert [is_keyframe(VP8, bytes(p)) for p in _drain(performer)] == [True, False, False]
        late = stream.track()
        stream.attach(late, VP8)
        await _publish(stream, 2)
        first = _drain(late)
        assert len(first) == 2 and is_keyframe(VP8, bytes(first[0]))
        stream.finish()

    asyncio.run(main())


def test_loss_reports_bring_a_keyframe_at_most_once_per_gap() -> None:
    async def main() -> None:
        now = [100.0]
        stream = bc.Broadcast("s", clock=lambda: now[0])
        performer = stream.track(performer=True)
        stream.attach(performer, VP8)
        await _publish(stream, 1)  # the joining keyframe, at t=100
        _drain(performer)
        stream.request_keyframe()
        now[0] += bc.KEYFRAME_MIN_GAP / 2
        await _publish(stream, 1)  # too soon after the last keyframe: a delta frame
        now[0] += bc.KEYFRAME_MIN_GAP
        await _publish(stream, 1)  # the request is still pending: now a keyframe
        await _publish(stream, 1)  # and only one
        kinds = [is_keyframe(VP8, bytes(p)) for p in _drain(performer)]
        assert kinds == [False, True, False]
        stream.finish()

    asyncio.run(main())


class _Transport:  # what RTCRtpSender reads from its transport at construction
    state = "new"

    def _register_rtp_sender(self, *args: object) -> None:
        pass


def test_a_senders_picture_loss_indication_reaches_the_stream() -> None:
    async def main() -> None:
        stream = bc.Broadcast("s")
        sender = RTCRtpSender(stream.track(), _Transport())
        assert bc.forward_keyframe_requests(sender, stream)
        pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc)
        await sender._handle_rtcp_packet(pli)
        assert stream.keyframe_requests == 1 and stream.keyframe_requested
        stream.finish()

    asyncio.run(main())


def test_without_the_private_hook_loss_reports_are_left_alone(caplog) -> None:
    class _Sender:
        pass

    assert not bc.forward_keyframe_requests(_Sender(), bc.Broadcast("s"))  # type: ignore[arg-type]
    assert "periodic keyframe" in caplog.text

