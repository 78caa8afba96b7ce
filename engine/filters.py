"""Keypoint smoothing: the one-euro filter for live streams, a median for files.

The one-euro filter (Casiez, Roussel, Vogel, CHI 2012) is a low-pass filter whose
cut-off rises with speed: steady poses lose their jitter, fast moves keep little lag.
The offline smoothing is the paper's: a median over a short centred window.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from engine.keypoints import missing_pose


def smoothing_alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """The exponential smoothing factor of a low-pass filter at `cutoff` Hz, step `dt` s."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise one-euro filter over arrays of a fixed shape.

    NaN inputs produce NaN outputs and restart that element: when it comes back it
    starts from its new value instead of being pulled toward a stale one. An element
    unseen for longer than `max_gap` seconds restarts as well.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0,
                 max_gap: float = 0.5) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or max_gap <= 0:
            raise ValueError("one-euro parameters must be positive (beta >= 0)")
        self.min_cutoff, self.beta = min_cutoff, beta
        self.d_cutoff, self.max_gap = d_cutoff, max_gap
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None  # last filtered value (NaN: no state)
        self._dx: np.ndarray | None = None  # last filtered derivative
        self._t: np.ndarray | None = None  # time of the last valid sample per element

    def __call__(self, value: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(value, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x = np.full(x.shape, np.nan)
            self._dx = np.zeros(x.shape)
            self._t = np.full(x.shape, -np.inf)
        assert self._dx is not None and self._t is not None
        valid = np.isfinite(x)
        dt = t - self._t
        fresh = valid & (~np.isfinite(self._x) | (dt > self.max_gap) | (dt <= 0))
        cont = valid & ~fresh
        out = np.full(x.shape, np.nan)
        # Restarted elements take their value as is.
        out[fresh] = x[fresh]
        self._dx[fresh] = 0.0
        if cont.any():
            dtc = dt[cont]
            dx = (x[cont] - self._x[cont]) / dtc
            a_d = smoothing_alpha(self.d_cutoff, dtc)
            dx_hat = a_d * dx + (1 - a_d) * self._dx[cont]
            cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
            a = smoothing_alpha(cutoff, dtc)
            out[cont] = a * x[cont] + (1 - a) * self._x[cont]
            self._dx[cont] = dx_hat
        self._x = np.where(valid, out, np.nan)
        self._t = np.where(valid, t, self._t)
        return out


class PoseFilter:
    """One-euro smoothing of `[33, 3]` poses: x and y filtered, visibility passed through."""

    def __init__(self, min_cutoff: float = 1.5, beta: float = 0.02, max_gap: float = 0.5) -> None:
        self._filter = OneEuroFilter(min_cutoff=min_cutoff, beta=beta, max_gap=max_gap)

    def reset(self) -> None:
        self._filter.reset()

    def __call__(self, pose: np.ndarray, t: float) -> np.ndarray:
        pose = np.asarray(pose, dtype=np.float32)
        if np.all(np.isnan(pose[:, :2])):
            # Feed the gap so elements restart when the person comes back.
            self._filter(pose[:, :2], t)
            return missing_pose()
        out = pose.copy()
        out[:, :2] = self._filter(pose[:, :2], t)
        return out


def median_smooth(keypoints: np.ndarray, window: int = 5) -> np.ndarray:
    """The paper's offline smoothing: per coordinate, the median over a centred window.

    NaN samples are ignored inside a window; frames that had no detection stay missing
    (nothing is invented).
    """
    kp = np.asarray(keypoints, dtype=np.float32)
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd positive number, got {window}")
    if window == 1 or len(kp) == 0:
        return kp.copy()
    half = window // 2
    padded = np.concatenate([np.full((half,) + kp.shape[1:], np.nan, np.float32), kp,
                             np.full((half,) + kp.shape[1:], np.nan, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at gaps
        out = np.nanmedian(windows, axis=-1).astype(np.float32)
    missing = np.isnan(kp[..., :2]).any(axis=-1)
    out[missing] = np.nan
    out[..., 2][missing] = 0.0
    return out

