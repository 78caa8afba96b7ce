"""Frame sources for the live pipeline: in-memory frames and video files, optionally
offered in real time (at their frame rate, whatever the pipeline's speed)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Iterator

import numpy as np

from engine.pipeline.frame import LiveFrame
from engine.video import probe, read_frames


class FramesSource:
    """Frames from an iterable; with `realtime`, frame i is offered at start + i / fps."""

    def __init__(self, frames: Iterable[np.ndarray], fps: float = 30.0,
                 realtime: bool = True) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self._frames: Iterator[np.ndarray] = iter(frames)
        self.fps = fps
        self.realtime = realtime
        self._index = 0
        self._start: float | None = None

    def _next(self) -> np.ndarray | None:
        return next(self._frames, None)

    async def _read(self) -> np.ndarray | None:
        return self._next()

    async def recv(self) -> LiveFrame | None:
        if self._start is None:
            self._start = time.perf_counter()
        if self.realtime:
            due = self._start + self._index / self.fps
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # let the other stages run
        else:
            await asyncio.sleep(0)
        image = await self._read()
        if image is None:
            return None
        frame = LiveFrame(self._index, image)
        self._index += 1
        return frame


class VideoFileSource(FramesSource):
    """A video file decoded with PyAV (in a worker thread), at its own frame rate."""

    def __init__(self, path: str | os.PathLike[str], realtime: bool = True,
                 max_frames: int | None = None) -> None:
        info = probe(path)
        frames = read_frames(path)
        if max_frames is not None:
            frames = (f for i, f in zip(range(max_frames), frames, strict=False))
        super().__init__(frames, info.fps, realtime)

    async def _read(self) -> np.ndarray | None:
        return await asyncio.get_running_loop().run_in_executor(None, self._next)
