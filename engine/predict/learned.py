"""A learned pose extrapolator: a small MLP, trained on the synthetic actor's motions.

The model (`train.predictor` makes it) sees one joint at a time. Its input is that
joint's recent track, resampled onto a fixed grid of `k` points `grid_step` seconds
apart that ends at the newest pose (linear interpolation in time, so the capture rate
and its jitter do not matter), taken relative to the newest position and divided by the
body's height (`body_height`, so the framing's scale does not matter either), plus the
horizon as a fraction of `max_horizon`. Its output is where the joint will be at the
horizon, relative to the newest position, in body heights. The feature code here is
the one the training uses (`resample_window`, `joint_features`), so the two cannot
drift apart.

A joint is predicted only where it was there in every pose the window spans; any other
joint comes back as it was last seen (NaN stays NaN), and visibility passes through.
Horizons past the model's `max_horizon` are clamped to it (it never saw longer ones).

The model runs with ONNX Runtime on one thread (the pipeline's other stages share the
cores); the runtime needs no torch.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.body import HIPS, NEUTRAL_TORSO, SHOULDERS
from engine.errors import InputError
from engine.keypoints import NUM_LANDMARKS

log = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "pose-predictor.onnx"
MAKE_COMMAND = "python -m train.predictor --out engine/predict/models"
MAX_GAP_S = 0.25  # a pause longer than this between poses starts the history again
(_LS, _RS), (_LH, _RH) = SHOULDERS, HIPS
HISTORY = 64  # poses kept at most (a window at up to ~240 fps)


def body_height(pose: np.ndarray) -> float:
    """The body's height (ankle to nose, pixels) estimated from its torso length (shoulders'
    midpoint to hips' midpoint, `engine.body.torso_length`), which moving arms and legs,
    turning and squatting hardly change; NaN where the shoulders or hips are missing."""
    p = np.asarray(pose)
    dx = 0.5 * (float(p[_LS, 0]) + float(p[_RS, 0]) - float(p[_LH, 0]) - float(p[_RH, 0]))
    dy = 0.5 * (float(p[_LS, 1]) + float(p[_RS, 1]) - float(p[_LH, 1]) - float(p[_RH, 1]))
    return math.sqrt(dx * dx + dy * dy) / NEUTRAL_TORSO


def resample_window(times: np.ndarray, xy: np.ndarray, k: int, step: float) -> np.ndarray:
    """Joint positions `[k, J, 2]` (oldest first) at the grid `times[-1] - (k-1-i) * step`,
    linearly interpolated from poses `xy` `[n, J, 2]` captured at increasing `times` `[n]`.

    A joint is NaN in the whole window unless it is finite in every pose from the one
    at or before the window's start to the newest, or where the history does not reach
    back to the window's start.
    """
    times = np.asarray(times, dtype=np.float64)
    xy = np.asarray(xy, dtype=np.float64)
    n = xy.shape[0]
    if n == 0 or (k > 1 and n < 2):
        return np.full((k, xy.shape[1], 2), np.nan)
    if k == 1:
        return xy[-1:].copy()
    grid = times[-1] - step * np.arange(k - 1, -1, -1)
    if grid[0] < times[0] - 1e-9:
        return np.full((k, xy.shape[1], 2), np.nan)
    lo = np.searchsorted(times, grid, side="right") - 1
    np.clip(lo, 0, n - 2, out=lo)
    t0 = times[lo]
    w = (grid - t0) / (times[lo + 1] - t0)
    np.clip(w, 0.0, 1.0, out=w)
    a = xy[lo]
    out = a + (xy[lo + 1] - a) * w[:, None, None]
    # A NaN anywhere in a joint's poses since the window's start makes its sum NaN.
    gone = ~np.isfinite(xy[lo[0]:].sum(axis=(0, 2)))
    out[:, gone] = np.nan
    return out


def joint_features(window: np.ndarray, scale: float, horizon: float,
                   max_horizon: float) -> np.ndarray:
    """The model's input `[J, 2(k-1) + 1]` float32: per joint, its `k-1` older grid
    positions relative to the newest one, in body heights (`x0, y0, x1, y1, ...`, oldest
    first), then the horizon over `max_horizon`."""
    k, joints = window.shape[0], window.shape[1]
    rel = (window[:-1] - window[-1]) / scale  # [k-1, J, 2]
    feats = np.empty((joints, 2 * (k - 1) + 1), dtype=np.float32)
    feats[:, :-1] = rel.transpose(1, 0, 2).reshape(joints, -1)
    feats[:, -1] = min(horizon, max_horizon) / max_horizon
    return feats


@dataclass(frozen=True)
class PredictorMeta:
    """What the runtime needs to know of a model (its JSON beside the `.onnx`)."""

    k: int
    grid_step: float
    max_horizon: float

    @classmethod
    def load(cls, path: Path) -> PredictorMeta:
        if not path.is_file():
            raise InputError(f"pose predictor metadata not found: {path}; make it with "
                             f"`{MAKE_COMMAND}`")
        try:
            d = json.loads(path.read_text())
            meta = cls(k=int(d["k"]), grid_step=float(d["grid_step"]),
                       max_horizon=float(d["max_horizon"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"bad pose predictor metadata {path}: {exc}") from exc
        if meta.k < 2 or not (meta.grid_step > 0) or not (meta.max_horizon > 0):
            raise InputError(f"bad pose predictor metadata {path}: {meta}")
        return meta


def metadata_path(model: Path) -> Path:
    """`pose-predictor.onnx` -> `pose-predictor.json`, beside it."""
    return model.with_suffix(".json")


class LearnedPredictor:
    """`engine.predict.base.Extrapolator` running the learned model (see the module doc)."""

    def __init__(self, model: str | Path | None = None, max_gap: float = MAX_GAP_S) -> None:
        import onnxruntime as ort

        self.model = Path(model) if model is not None else DEFAULT_MODEL
        if not self.model.is_file():
            raise InputError(f"pose predictor model not found: {self.model}; make it with "
                             f"`{MAKE_COMMAND}`")
        self.meta = PredictorMeta.load(metadata_path(self.model))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.model), opts,
                                                providers=["CPUExecutionProvider"])
        except (RuntimeError, ValueError) as exc:  # onnxruntime's load errors
            raise InputError(f"cannot load pose predictor {self.model}: {exc}") from exc
        self._input = self.session.get_inputs()[0].name
        width = self.session.get_inputs()[0].shape[-1]
        if width != 2 * (self.meta.k - 1) + 1:
            raise InputError(f"{self.model} takes {width} features per joint, its metadata "
                             f"says k={self.meta.k}")
        self.max_gap = max_gap
        self._span = (self.meta.k - 1) * self.meta.grid_step
        # The history: the poses that span the window, plus the one before its start.
        self._times = np.empty(HISTORY)
        self._xy = np.empty((HISTORY, NUM_LANDMARKS, 2))
        self.reset()

    def reset(self) -> None:
        self._n = 0
        self._newest: np.ndarray | None = None
        self._scale = math.nan

    def update(self, pose: np.ndarray, t: float) -> None:
        pose = np.array(pose, dtype=np.float32, copy=True)
        n = self._n
        if n and not (0.0 < t - self._times[n - 1] <= self.max_gap):
            log.debug("pose history restarted (%.3f s after the last pose)",
                      t - self._times[n - 1])
            self.reset()
            n = 0
        # Drop the oldest poses while the next one still reaches the window's start.
        drop = 0
        while n - drop >= 2 and self._times[drop + 1] <= t - self._span:
            drop += 1
        drop = max(drop, n + 1 - HISTORY)
        if drop:
            n -= drop
            self._times[:n] = self._times[drop:drop + n]
            self._xy[:n] = self._xy[drop:drop + n]
        self._times[n] = t
        self._xy[n] = pose[:, :2]
        self._n = n + 1
        self._newest = pose
        scale = body_height(pose)
        if math.isfinite(scale) and scale > 0:
            self._scale = scale

    def predict(self, horizon_s: float) -> np.ndarray:
        if self._newest is None:
            raise RuntimeError("predict() before any update()")
        newest = self._newest
        out = newest.copy()
        if not (horizon_s > 0) or not math.isfinite(self._scale):
            return out
        meta = self.meta
        window = resample_window(self._times[:self._n], self._xy[:self._n], meta.k,
                                 meta.grid_step)
        there = ~np.isnan(window[0, :, 0])
        if not there.any():
            return out
        feats = joint_features(window[:, there], self._scale, horizon_s, meta.max_horizon)
        (offset,) = self.session.run(None, {self._input: feats})
        out[there, :2] = (newest[there, :2] + offset * self._scale).astype(np.float32)
        return out
