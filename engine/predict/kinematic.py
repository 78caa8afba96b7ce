"""Kinematic extrapolation: per joint, a low-order polynomial fitted to the last poses.

Each joint's x and y are fitted by least squares over the poses of the last `window_s`
seconds (at least the newest `min_samples`, whatever their spacing, so a slow camera
still gets a fit): a straight line (`order=1`, constant velocity) or a parabola
(`order=2`, constant acceleration). Timestamps may be irregular; the fit uses them as
they are. The prediction moves the newest pose by the fitted motion, so at horizon 0 it
is the newest pose itself, and the fit's own smoothing never shifts a joint.

Damping. A velocity measured now predicts the next few tens of milliseconds well and
the next half second badly: dancers reverse on the beat. If a joint's velocity decays
like an Ornstein-Uhlenbeck process with correlation time `damping_s`, the expected
displacement after `h` is `v * damping_s * (1 - exp(-h / damping_s))`; its rational
approximation

    h_eff = h / (1 + h / damping_s)

grows like `h` for short horizons and never exceeds `damping_s`, so a wrong velocity can
only throw a joint a bounded distance. The acceleration term (order 2) is noisier still:
it enters as `accel_gain * c * h_eff**2` with `accel_gain` below 1.

Defaults. `TUNED` holds the windows `python -m benchmarks.prediction --tune` chose on
the training motions (one-euro-filtered noisy poses, 70 and 125 ms ahead; see
`benchmarks/results/prediction-tuning.md`): of those within 2% of the best error, the
least jerky. The filter already smooths, so the shortest window (in practice the newest
`min_samples` poses) lags least and wins; a parabola needs a longer window and only a
quarter of its acceleration. The tuning's best damping for the error alone was 0.2 s,
but it leaves the avatar trailing by most of the delay (through `dancenow serve`, the
avatar's motion still lagged 120 ms of the 143 ms it lagged without prediction, where
undamped it lags about 90; `benchmarks.motion_lag`): the live default, order 1, is
undamped, and the horizon cap and the back-off bound what a wrong velocity can do.
"""

from __future__ import annotations

import math

import numpy as np

from engine.keypoints import NUM_LANDMARKS, missing_pose

_RIDGE = 1e-9  # keeps the batched normal equations solvable for joints that are not fitted

# Tuned settings per order (see the module docstring).
TUNED: dict[int, dict[str, float]] = {
    1: {"window_s": 0.07, "damping_s": math.inf},
    2: {"window_s": 0.2, "damping_s": 0.2, "accel_gain": 0.25},
}


class KinematicPredictor:
    """`engine.predict.base.Extrapolator` by per-joint polynomial fits.

    `order`: 1 (constant velocity) or 2 (constant acceleration); `window_s`: how far back
    the fit looks; `min_samples`: the fewest poses a joint must be seen in (within the
    window, the newest included) to be moved (a parabola needs one more; with fewer the
    joint gets a line); `damping_s`: the horizon's damping (see
    the module docstring; `math.inf` for none); `accel_gain`: the share of the fitted
    acceleration that is used; `max_gap_s`: a longer pause between poses restarts the
    history; `capacity`: the most poses kept.
    """

    def __init__(self, order: int = 1, window_s: float = 0.07, min_samples: int = 3,
                 damping_s: float = 0.2, accel_gain: float = 0.25, max_gap_s: float = 0.5,
                 capacity: int = 16) -> None:
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order}")
        if not window_s > 0 or not damping_s > 0 or not max_gap_s > 0:
            raise ValueError("window_s, damping_s and max_gap_s must be positive")
        if min_samples < order + 1:
            raise ValueError(f"an order-{order} fit needs min_samples >= {order + 1}")
        if not 0.0 <= accel_gain <= 1.0:
            raise ValueError(f"accel_gain must be within 0..1, got {accel_gain}")
        if capacity < min_samples:
            raise ValueError("capacity must hold at least min_samples poses")
        self.order, self.window_s, self.min_samples = order, float(window_s), int(min_samples)
        self.damping_s, self.accel_gain = float(damping_s), float(accel_gain)
        self.max_gap_s, self.capacity = float(max_gap_s), int(capacity)
        self._xy = np.full((self.capacity, NUM_LANDMARKS, 2), np.nan)
        self._times = np.full(self.capacity, -np.inf)
        self.reset()

    @classmethod
    def tuned(cls, order: int = 1, **overrides: float) -> KinematicPredictor:
        """The predictor of `order` with its tuned settings (`TUNED`)."""
        params: dict[str, float] = {**TUNED[order], **overrides}
        return cls(order=order, **params)  # type: ignore[arg-type]

    def reset(self) -> None:
        self._xy.fill(np.nan)
        self._times.fill(-np.inf)
        self._count = 0
        self._newest: np.ndarray | None = None

    def update(self, pose: np.ndarray, t: float) -> None:
        pose = np.asarray(pose, dtype=np.float32)
        if pose.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"a pose must have shape [33, 3], got {list(pose.shape)}")
        t = float(t)
        if self._count:
            last = self._times[-1]
            if t == last:  # the same capture again: the newer reading wins
                self._xy[-1] = pose[:, :2]
                self._newest = pose.copy()
                return
            if t < last or t - last > self.max_gap_s:
                self.reset()
        self._xy[:-1] = self._xy[1:]
        self._times[:-1] = self._times[1:]
        self._xy[-1] = pose[:, :2]
        self._times[-1] = t
        self._count = min(self._count + 1, self.capacity)
        self._newest = pose.copy()

    def effective_horizon(self, horizon_s: float) -> float:
        """The damped horizon the fitted motion is evaluated at."""
        h = max(float(horizon_s), 0.0)
        return h / (1.0 + h / self.damping_s) if math.isfinite(self.damping_s) else h

    def velocity(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fit at the newest pose: velocity `[33, 2]` (px/s), the coefficient of
        `tau**2` `[33, 2]` (px/s^2, half the acceleration; zeros for order 1) and the
        joints fitted `[33]`."""
        zeros = np.zeros((NUM_LANDMARKS, 2))
        n = self._count
        if n < self.min_samples or self._newest is None:
            return zeros, zeros.copy(), np.zeros(NUM_LANDMARKS, bool)
        times = self._times[-n:]
        tau = times - times[-1]
        use = tau >= -self.window_s - 1e-9
        use[-self.min_samples:] = True
        scale = max(-float(tau[use][0]), 1e-6)  # fit in units of the span: well conditioned
        u = tau[use] / scale
        xy = self._xy[-n:][use]
        valid = np.isfinite(xy[..., 0])  # [m, 33]
        x = np.where(valid[..., None], xy, 0.0)
        w = valid.astype(np.float64)
        s0 = w.sum(0)
        s1 = u @ w
        s2 = (u * u) @ w
        sx = x.sum(0)
        sux = np.tensordot(u, x, axes=(0, 0))
        fitted = valid[-1] & (s0 >= self.min_samples)
        det = s0 * s2 - s1 * s1
        fitted &= det > 1e-9 * np.maximum(s0, 1.0) ** 2
        safe = np.where(fitted, det, 1.0)
        slope = (s0[:, None] * sux - s1[:, None] * sx) / safe[:, None]
        curve = np.zeros_like(slope)
        if self.order == 2:
            quad = fitted & (s0 >= self.min_samples + 1)
            if quad.any():
                s3, s4 = (u ** 3) @ w, (u ** 4) @ w
                a = np.stack([np.stack([s0, s1, s2], -1), np.stack([s1, s2, s3], -1),
                              np.stack([s2, s3, s4], -1)], -2)  # [33, 3, 3]
                rhs = np.stack([sx, sux, np.tensordot(u * u, x, axes=(0, 0))], -2)
                coef = np.linalg.solve(a + _RIDGE * np.eye(3), rhs)  # [33, 3, 2]
                slope = np.where(quad[:, None], coef[:, 1], slope)
                curve = np.where(quad[:, None], coef[:, 2], 0.0)
        velocity = np.where(fitted[:, None], slope / scale, 0.0)
        curve = np.where(fitted[:, None], curve / (scale * scale), 0.0)
        return velocity, curve, fitted

    def predict(self, horizon_s: float) -> np.ndarray:
        if self._newest is None:
            return missing_pose()
        out = self._newest.copy()
        if horizon_s <= 0:
            return out
        velocity, curve, fitted = self.velocity()
        if not fitted.any():
            return out
        h = self.effective_horizon(horizon_s)
        step = velocity * h + (self.accel_gain * h * h) * curve
        out[fitted, :2] = (out[fitted, :2] + step[fitted]).astype(np.float32)
        return out
