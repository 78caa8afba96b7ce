"""The incoming track's side of a session: what waits before the pipeline."""

from __future__ import annotations

import asyncio

from aiortc import RTCRtpReceiver

from server.tracks import TrackSource


class _Transport:  # what RTCRtpReceiver reads from its transport at construction
    state = "new"

    def _register_rtp_receiver(self, *args: object) -> None:
        pass


class _Track:  # aiortc's RemoteStreamTrack keeps its decoded frames in `_queue`
    kind = "video"

    def __init__(self) -> None:
        self._queue: asyncio.Queue = asyncio.Queue()


def test_waiting_counts_encoded_and_decoded_frames() -> None:
    receiver = RTCRtpReceiver("video", _Transport())
    track = _Track()
    source = TrackSource(track, receiver)  # type: ignore[arg-type]
    assert source.waiting == 0
    encoded = receiver._RTCRtpReceiver__decoder_queue  # this aiortc release's name for it
    encoded.put(("vp8", b"frame 1"))
    encoded.put(("vp8", b"frame 2"))
    track._queue.put_nowait("decoded frame")
    assert source.waiting == 3
    assert TrackSource(track).waiting == 1  # without the receiver: the decoded ones
