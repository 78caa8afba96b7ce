"""An aiortc client that sends a synthetic performer and collects the avatar it gets back."""

from __future__ import annotations

import asyncio
import time

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError

from server import framecode
from train.synth.clip import ClipSpec, synthesize


def performer_frames(seconds: float = 2.0, size: int = 256, fps: int = 15):  # noqa: ANN201
    spec = ClipSpec(actor="performer", motion="dance", seconds=seconds, size=size, fps=fps,
                    seed=4)
    return list(synthesize(spec))


class PerformerTrack(VideoStreamTrack):
    """Synthetic camera: the clip's frames in a loop at 30 fps, each with its frame code."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__()
        self.frames = frames
        self.sent: dict[int, float] = {}
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = self.frames[self.count % len(self.frames)].copy()
        code = self.count % framecode.MODULO
        framecode.draw(image, code)
        self.sent[code] = time.perf_counter()
        self.count += 1
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class Client:
    def __init__(self, frames: list[np.ndarray]) -> None:
        self.pc = RTCPeerConnection()
        self.camera = PerformerTrack(frames)
        self.received: list[tuple[float, np.ndarray]] = []
        self.round_trips: list[float] = []
        self._reader: asyncio.Task | None = None

    async def offer(self) -> dict:
        self.pc.addTransceiver(self.camera, direction="sendrecv")

        @self.pc.on("track")
        def on_track(track) -> None:  # noqa: ANN001
            self._reader = asyncio.ensure_future(self._read(track))

        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def answer(self, body: dict) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))

    async def _read(self, track) -> None:  # noqa: ANN001
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.perf_counter()
            image = frame.to_ndarray(format="rgb24")
            self.received.append((now, image))
            code = framecode.read(image)
            if code is not None and code in self.camera.sent:
                self.round_trips.append(now - self.camera.sent[code])

    async def close(self) -> None:
        await self.pc.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
