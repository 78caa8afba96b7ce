"""What every pose extrapolator offers the predictor (`predictor.PosePredictor`).

Poses are `[33, 3]` float32 in the avatar's pixels (x, y, visibility), the output of the
label step's framing (`engine.framing`); a joint that is not there has NaN coordinates.
Times are seconds on one clock (the frames' capture times, `time.perf_counter`).

An extrapolator sees every pose of a stream in order (`update`) and says where each joint
will be `horizon_s` seconds after the newest one (`predict`). Joints it cannot predict
(missing now, or seen too briefly) come back as they were last seen: it never invents a
joint that is not there.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Extrapolator(Protocol):
    """Per-stream state; one thread at a time."""

    def reset(self) -> None:
        """Forget the history (a new performer, a restart of the framing)."""

    def update(self, pose: np.ndarray, t: float) -> None:
        """The newest pose of the stream, captured at `t`."""

    def predict(self, horizon_s: float) -> np.ndarray:
        """The pose `horizon_s` (>= 0) after the newest one; a copy of the newest pose
        where nothing can be predicted, and at `horizon_s == 0`."""
