"""How far ahead to predict: the delay to hide, capped, and backed off when prediction
does not pay.

The horizon in use is `min(requested delay, cap_s) * backoff`, with a back-off per limb
joint (`joint_backoff`: the 12 of `LIMB_JOINTS`; the face follows the shoulders, hands
their wrist, feet their ankle): a dancer's waving arm is predicted while the still legs,
whose prediction would only amplify the pose estimator's jitter, are not. The back-off
comes from the predictions' own record: each prediction is remembered (its target time,
the predicted pose and the pose it was predicted from); once the stream's poses reach
past its target time, the pose there (interpolated between the two poses around it)
grades it. Per limb joint, its error and the error of not predicting at all (showing the
pose it was predicted from) are distances in pixels. Both errors are averaged (EWMA) and
their ratio is the joint's error ratio: averaging the errors before dividing, rather than
the per-prediction ratios, keeps the moments when a limb turns round (showing the pose
as it is then costs almost nothing, so any prediction's ratio is huge) from outvoting
the rest of the motion. A ratio above `threshold` shrinks the joint's back-off (times
`shrink` per graded prediction, down to 0); below it the back-off recovers by `recover`
per graded prediction up to 1. `backoff` and `error_ratio` report the mean over the
limb joints. Predictions that moved nothing
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

from engine.keypoints import LANDMARK_NAMES, LIMB_JOINTS, NUM_LANDMARKS

_LIMBS = list(LIMB_JOINTS)


def _anchor(name: str) -> list[int]:
    """The limb joints (positions in LIMB_JOINTS) whose back-off landmark `name` takes."""
    side = "left" if name.startswith("left_") else "right"
    if any(part in name for part in ("pinky", "index", "thumb")) and "foot" not in name:
        return [_LIMBS.index(_landmark(f"{side}_wrist"))]
    if any(part in name for part in ("heel", "foot_index")):
        return [_LIMBS.index(_landmark(f"{side}_ankle"))]
    if _landmark(name) in _LIMBS:
        return [_LIMBS.index(_landmark(name))]
    return [_LIMBS.index(_landmark("left_shoulder")), _LIMBS.index(_landmark("right_shoulder"))]


def _landmark(name: str) -> int:
    return LANDMARK_NAMES.index(name)


# [33, 12]: each landmark's back-off as a weighted mean of the limb joints' back-offs
_SPREAD = np.zeros((NUM_LANDMARKS, len(_LIMBS)))
for _i, _name in enumerate(LANDMARK_NAMES):
    _cols = _anchor(_name)
    _SPREAD[_i, _cols] = 1.0 / len(_cols)


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
        self.backoffs = np.ones(len(_LIMBS))  # per limb joint
        self.ratios = np.full(len(_LIMBS), np.nan)  # per limb joint, once graded
        self._pred_err = np.full(len(_LIMBS), np.nan)
        self._hold_err = np.full(len(_LIMBS), np.nan)
        self.graded = 0
        self._requested = 0.0
        self._horizon = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def backoff(self) -> float:
        """The mean back-off of the limb joints."""
        return float(self.backoffs.mean())

    @property
    def error_ratio(self) -> float | None:
        """The mean error ratio of the limb joints graded so far (None before any)."""
        graded = self.ratios[np.isfinite(self.ratios)]
        return float(graded.mean()) if len(graded) else None

    def joint_backoff(self) -> np.ndarray:
        """`[33]`: the back-off of every landmark (see the module docstring)."""
        return _SPREAD @ self.backoffs

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
        ok &= np.linalg.norm(p.predicted - p.source, axis=1) > 0  # joints it moved
        if not ok.any():
            return  # nothing was predicted
        pred_err = np.linalg.norm(p.predicted[ok] - seen[ok], axis=1)
        hold_err = np.linalg.norm(p.source[ok] - seen[ok], axis=1)
        fresh = ok & ~np.isfinite(self._pred_err)
        self._pred_err[fresh], self._hold_err[fresh] = pred_err[fresh[ok]], hold_err[fresh[ok]]
        old = ok & ~fresh
        self._pred_err[old] += self.alpha * (pred_err[old[ok]] - self._pred_err[old])
        self._hold_err[old] += self.alpha * (hold_err[old[ok]] - self._hold_err[old])
        ratio = (self._pred_err[ok] + self.floor_px) / (self._hold_err[ok] + self.floor_px)
        self.ratios[ok] = ratio
        worse = ratio > self.threshold
        b = self.backoffs[ok]
        b = np.where(worse, b * self.shrink, np.minimum(1.0, b + self.recover))
        b[b < 1e-3] = 0.0
        self.backoffs[ok] = b
        self.graded += 1

    def stats(self) -> dict[str, float | int | None]:
        return {"requested_ms": self._requested * 1000, "cap_ms": self.cap_s * 1000,
                "horizon_ms": self._horizon * 1000, "backoff": self.backoff,
                "error_ratio": self.error_ratio, "graded": self.graded,
                "pending": len(self._pending)}
