"""A frame on its way through the pipeline, with a timestamp per stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LiveFrame:
    index: int  # position in the source, from 0
    image: np.ndarray = field(repr=False)  # HxWx3 uint8 RGB, as captured
    captured: float = field(default_factory=time.perf_counter)  # perf_counter seconds
    stamps: dict[str, float] = field(default_factory=dict)  # stage -> time it finished
    # [33, 3] in the source's pixels (NaN: nobody), then in the avatar's pixels
    pose: np.ndarray | None = field(default=None, repr=False)
    normalized: np.ndarray | None = field(default=None, repr=False)
    person: bool = False  # the performer was seen in this frame
    held: bool = False  # the pose is held or eased, not seen
    restart: bool = False  # the generator's temporal feedback restarts here
    # what the camera shows of the performer: "full" (whole body), "upper" (legs out of
    # view: the avatar stands on neutral legs), "none" (nobody in view); see engine/framing
    mode: str = "none"
    # the label map ([1, 3, S, S] in [-1, 1]), the face box ([x0, y0, side] in the
    # avatar's pixels), the generated frame (float32 [1, 3, S, S], until finished) and the
    # avatar frame (SxSx3 uint8 RGB)
    label: np.ndarray | None = field(default=None, repr=False)
    face_box: np.ndarray | None = field(default=None, repr=False)
    rendered: np.ndarray | None = field(default=None, repr=False)
    output: np.ndarray | None = field(default=None, repr=False)
    id: int | None = None  # a caller's identifier carried to the output (e.g. a frame code)
    horizon_ms: float = 0.0  # how far ahead of its capture the pose drawn was predicted

    def stamp(self, stage: str) -> None:
        self.stamps[stage] = time.perf_counter()

    def latency(self) -> float:
        """Seconds from capture to the last stamp."""
        return (max(self.stamps.values()) if self.stamps else self.captured) - self.captured
