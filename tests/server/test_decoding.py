"""A decoder that falls behind starts over at the next keyframe (real VP8 and H.264
frames from aiortc's own encoders)."""

from __future__ import annotations

import asyncio
import fractions
import threading

import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs import depayload, get_encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from server.decoding import BEHIND_FRAMES, LatestDecoding, is_keyframe, use_latest_decoding
from server.loopback import performer_frames
from server.videoframes import video_frame

CODECS = {"VP8": "video/VP8", "H264": "video/H264"}


def _encoded(codec: str, count: int, keyframes: set[int]) -> tuple[RTCRtpCodecParameters,
                                                                  list[JitterFrame]]:
    params = RTCRtpCodecParameters(mimeType=CODECS[codec], clockRate=90_000, payloadType=96)
    encoder = get_encoder(params)
    images = [f for f, _ in performer_frames(seconds=count / 15, size=128, fps=15)]
    out = []
    for i, image in enumerate(images[:count]):
        frame = video_frame(image)
        frame.pts, frame.time_base = i * 6000, fractions.Fraction(1, 90_000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=i in keyframes)
        out.append(JitterFrame(data=b"".join(depayload(params, p) for p in payloads),
                               timestamp=timestamp))
    return params, out


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_keyframes_are_told_from_the_bitstream(codec: str) -> None:
    params, frames = _encoded(codec, 6, keyframes={0, 4})
    assert [is_keyframe(params.mimeType, f.data) for f in frames] == [
        True, False, False, False, True, False]
    assert not is_keyframe(params.mimeType, b"")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_backlog_is_dropped_and_decoding_resumes_at_a_keyframe() -> None:
    params, frames = _encoded("VP8", 12, keyframes={0, 9})
    wanted, clock = threading.Event(), Clock()
    decoding = LatestDecoding(wanted, clock=clock)
    for frame in frames[:BEHIND_FRAMES]:  # the decoder thread takes nothing: it is behind
        decoding.put((params, frame))
    assert decoding.qsize() == BEHIND_FRAMES and not wanted.is_set()
    decoding.put((params, frames[3]))  # one more: the backlog goes, a keyframe is asked for
    assert decoding.qsize() == 0 and decoding.waiting_for_keyframe and wanted.is_set()
    wanted.clear()
    decoding.put((params, frames[4]))  # still no keyframe: dropped, not asked again so soon
    assert decoding.qsize() == 0 and not wanted.is_set()
    clock.now += 1.0
    decoding.put((params, frames[5]))  # long without one: asked again
    assert wanted.is_set()
    for frame in frames[6:9]:
        decoding.put((params, frame))
    decoding.put((params, frames[9]))  # the keyframe: decoding starts over from it
    decoding.put((params, frames[10]))
    assert [f for _, f in list(decoding.queue)] == [frames[9], frames[10]]
    assert not decoding.waiting_for_keyframe
    assert decoding.shed == BEHIND_FRAMES + 1 + 5 and decoding.restarts == 1
    decoding.put(None)  # the end still reaches the decoder
    assert list(decoding.queue)[-1] is None


def test_a_backlog_ending_on_a_keyframe_resumes_at_once() -> None:
    params, frames = _encoded("H264", BEHIND_FRAMES + 1, keyframes={0, BEHIND_FRAMES})
    decoding = LatestDecoding(threading.Event())
    for frame in frames:
        decoding.put((params, frame))
    assert [f for _, f in list(decoding.queue)] == [frames[-1]]
    assert not decoding.waiting_for_keyframe and not decoding.keyframe_wanted.is_set()


def test_a_decoder_keeping_up_loses_nothing() -> None:
    params, frames = _encoded("VP8", 10, keyframes={0})
    decoding = LatestDecoding(threading.Event())
    for frame in frames:
        decoding.put((params, frame))
        decoding.get()  # the decoder takes each frame as it comes
    assert decoding.shed == 0 and decoding.restarts == 0


def test_it_goes_into_a_real_receiver() -> None:
    async def main() -> None:
        pc = RTCPeerConnection()
        try:
            receiver = pc.addTransceiver("video", direction="recvonly").receiver
            decoding = use_latest_decoding(receiver)
            assert isinstance(decoding, LatestDecoding)
            assert receiver._RTCRtpReceiver__decoder_queue is decoding
            assert decoding.keyframe_wanted is receiver._RTCRtpReceiver__decoder_error
        finally:
            await pc.close()

    asyncio.run(main())
