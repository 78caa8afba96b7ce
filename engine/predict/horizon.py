"""How far ahead to predict: the delay to hide, capped, and backed off when prediction
does not pay.

The horizon in use is `min(requested delay, cap_s) * backoff`. The back-off comes from
the predictions' own record: each prediction is remembered (its target time, the
predicted pose and the pose it was predicted from); once the stream's poses reach past
its target time, the pose there (interpolated between the two poses around it) grades
it. Its error, and the error of not predicting at all (showing the pose it was predicted
from), are the mean distances over the 12 limb joints (`LIMB_JOINTS`), in pixels. Both
errors are averaged (EWMA) and their ratio is the error ratio: averaging the errors
before dividing, rather than the per-prediction ratios, keeps the moments when a limb
turns round (showing the pose as it is then costs almost nothing, so any prediction's
ratio is huge) from outvoting the rest of the motion. A ratio above `threshold` shrinks
the back-off (times `shrink` per graded prediction, down to 0); below it the back-off
recovers by `recover` per graded prediction up to 1. Predictions that moved nothing
(the extrapolator had too little history) are not graded. The caller keeps grading
predictions at the capped horizon when the back-off is below 1 (`PosePredictor` does),
so that a stream that becomes predictable again is noticed.

The poses graded against are the stream's own (filtered) poses, not the truth: the
ratio tells whether the predictions anticipate where the stream goes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from engine.keypoints import LIMB_JOINTS

_LIMBS = list(LIMB_JOINTS)


@dataclass
class _Pending:
    target: float
    predicted: np.ndarray  # [12, 2] limb joints
    source: np.ndarray  # [12, 2]


class HorizonControl:
    """The prediction horizon of one stream (see the module docstring).

    `cap_s`: the longest horizon; `threshold`: the error ratio (prediction / none) above
    which the back-off shrinks; `alpha`: the EWMAs' weight of a new error; `floor_px`:
    added to both averages, so that a still body (both at the noise floor) reads as about
    1; `max_pending`: the most predictions awaiting a grade (the oldest go first);
    `max_gap_s`: poses farther apart than this grade nothing between them.
    """

    def __init__(self, cap_s: float = 0.15, threshold: float = 0.9, shrink: float = 0.8,
                 recover: float = 0.02, alpha: float = 0.05, floor_px: float = 0.5,
                 max_pending: int = 64, max_gap_s: float = 0.5) -> None:
        if not cap_s >= 0:
            raise ValueError(f"cap_s must be >= 0, got {cap_s}")
        if not (0 <= shrink < 1 and 0 < recover <= 1 and 0 < alpha <= 1):
            raise ValueError("shrink must be within 0..1, recover and alpha within (0, 1]")
        self.cap_s, self.threshold, self.shrink = float(cap_s), float(threshold), float(shrink)
        self.recover, self.alpha, self.floor_px = float(recover), float(alpha), float(floor_px)
        self.max_gap_s = float(max_gap_s)
        self._pending: deque[_Pending] = deque(maxlen=max_pending)
        self.reset()

    def reset(self) -> None:
        self._pending.clear()
        self._last: tuple[float, np.ndarray] | None = None
        self.backoff = 1.0
        self.error_ratio: float | None = None
        self._pred_err = self._hold_err = 0.0
        self.graded = 0
        self._requested = 0.0
        self._horizon = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def capped(self, requested_s: float | None) -> float:
        """The requested delay within 0..cap_s."""
        if requested_s is None or not math.isfinite(requested_s):
            return 0.0
        return min(max(float(requested_s), 0.0), self.cap_s)

    def horizon(self, requested_s: float | None) -> float:
        """The horizon to predict at now: capped, backed off."""
        self._requested = 0.0 if requested_s is None else max(float(requested_s), 0.0)
        self._horizon = self.capped(requested_s) * self.backoff
        return self._horizon

    def record(self, target_t: float, predicted: np.ndarray, source: np.ndarray) -> None:
        """Remember a prediction for `target_t`, made from the pose `source`."""
        self._pending.append(_Pending(float(target_t),
                                      np.asarray(predicted, np.float64)[_LIMBS, :2].copy(),
                                      np.asarray(source, np.float64)[_LIMBS, :2].copy()))

    def update(self, pose: np.ndarray, t: float) -> None:
        """A new pose of the stream at `t`: grade the predictions it reaches."""
        limb = np.asarray(pose, np.float64)[_LIMBS, :2].copy()
        t = float(t)
        last = self._last
        if last is not None and t <= last[0]:
            if t < last[0]:  # the clock went back: nothing pending can be graded
                self._pending.clear()
            self._last = (t, limb)
            return
        if last is not None and self._pending:
            t0, pose0 = last
            ready = [p for p in self._pending if p.target <= t]
            if ready:
                self._pending = deque((p for p in self._pending if p.target > t),
                                      maxlen=self._pending.maxlen)
                if t - t0 <= self.max_gap_s:
                    for p in ready:
                        if p.target >= t0:
                            frac = (p.target - t0) / (t - t0)
                            self._grade(p, pose0 + frac * (limb - pose0))
        self._last = (t, limb)

    def _grade(self, p: _Pending, seen: np.ndarray) -> None:
        ok = np.isfinite(seen).all(1) & np.isfinite(p.predicted).all(1)
        ok &= np.isfinite(p.source).all(1)
        if not ok.any():
            return
        if np.array_equal(p.predicted[ok], p.source[ok]):
            return  # nothing was predicted
        pred_err = float(np.linalg.norm(p.predicted[ok] - seen[ok], axis=1).mean())
        hold_err = float(np.linalg.norm(p.source[ok] - seen[ok], axis=1).mean())
        if self.error_ratio is None:
            self._pred_err, self._hold_err = pred_err, hold_err
        else:
            self._pred_err += self.alpha * (pred_err - self._pred_err)
            self._hold_err += self.alpha * (hold_err - self._hold_err)
        self.error_ratio = (self._pred_err + self.floor_px) / (self._hold_err + self.floor_px)
        if self.error_ratio > self.threshold:
            self.backoff *= self.shrink
            if self.backoff < 1e-3:
                self.backoff = 0.0
        else:
            self.backoff = min(1.0, self.backoff + self.recover)
        self.graded += 1

    def stats(self) -> dict[str, float | int | None]:
        return {"requested_ms": self._requested * 1000, "cap_ms": self.cap_s * 1000,
                "horizon_ms": self._horizon * 1000, "backoff": self.backoff,
                "error_ratio": self.error_ratio, "graded": self.graded,
                "pending": len(self._pending)}
