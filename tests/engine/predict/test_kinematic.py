"""Kinematic extrapolation: exact on polynomial motion, damped, careful with missing joints."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from engine.keypoints import LM, NUM_LANDMARKS
from engine.predict.kinematic import KinematicPredictor


def _base(rng: np.random.Generator) -> np.ndarray:
    pose = np.empty((NUM_LANDMARKS, 3), np.float32)
    pose[:, :2] = rng.uniform(100, 400, (NUM_LANDMARKS, 2))
    pose[:, 2] = rng.uniform(0.5, 1.0, NUM_LANDMARKS)
    return pose


def _feed(pred: KinematicPredictor, base: np.ndarray, times: np.ndarray,
          motion) -> None:
    for t in times:
        pose = base.copy()
        pose[:, :2] += motion(t)
        pred.update(pose, float(t))


def test_constant_velocity_is_exact_on_linear_motion(rng) -> None:
    base, v = _base(rng), rng.normal(0, 150, (NUM_LANDMARKS, 2))
    times = np.arange(10) / 30
    pred = KinematicPredictor(order=1, damping_s=math.inf)
    _feed(pred, base, times, lambda t: v * t)
    out = pred.predict(0.1)
    expected = base[:, :2] + v * (times[-1] + 0.1)
    np.testing.assert_allclose(out[:, :2], expected, atol=1e-3)
    np.testing.assert_array_equal(out[:, 2], base[:, 2])  # visibility passes through


def test_damping_shortens_the_horizon(rng) -> None:
    base, v = _base(rng), rng.normal(0, 150, (NUM_LANDMARKS, 2))
    times = np.arange(10) / 30
    pred = KinematicPredictor(order=1, damping_s=0.2)
    _feed(pred, base, times, lambda t: v * t)
    h_eff = 0.1 / (1 + 0.1 / 0.2)
    assert pred.effective_horizon(0.1) == pytest.approx(h_eff)
    np.testing.assert_allclose(pred.predict(0.1)[:, :2],
                               base[:, :2] + v * (times[-1] + h_eff), atol=1e-3)
    # However long the horizon, a joint moves at most damping_s times its velocity.
    far = pred.predict(100.0)[:, :2] - pred.predict(0.0)[:, :2]
    assert np.all(np.abs(far) <= np.abs(v) * 0.2 + 1e-3)


def test_constant_acceleration_is_exact_on_quadratic_motion(rng) -> None:
    base = _base(rng)
    v, a = rng.normal(0, 150, (NUM_LANDMARKS, 2)), rng.normal(0, 400, (NUM_LANDMARKS, 2))
    times = np.arange(10) / 30
    motion = lambda t: v * t + a * t * t  # noqa: E731
    pred = KinematicPredictor(order=2, window_s=0.2, damping_s=math.inf, accel_gain=1.0)
    _feed(pred, base, times, motion)
    np.testing.assert_allclose(pred.predict(0.1)[:, :2], base[:, :2] + motion(times[-1] + 0.1),
                               atol=1e-2)
    # Order 1 on the same motion misses by about a * h^2 and more.
    lin = KinematicPredictor(order=1, damping_s=math.inf)
    _feed(lin, base, times, motion)
    miss = np.abs(lin.predict(0.1)[:, :2] - (base[:, :2] + motion(times[-1] + 0.1)))
    assert miss.max() > 1.0


def test_irregular_timestamps(rng) -> None:
    base, v = _base(rng), rng.normal(0, 150, (NUM_LANDMARKS, 2))
    # 15..30 fps with jitter
    times = np.cumsum(rng.uniform(1 / 30, 1 / 15, 12)) + rng.uniform(-0.004, 0.004, 12)
    times.sort()
    pred = KinematicPredictor(order=1, damping_s=math.inf)
    _feed(pred, base, times, lambda t: v * t)
    np.testing.assert_allclose(pred.predict(0.125)[:, :2],
                               base[:, :2] + v * (times[-1] + 0.125), atol=1e-2)
    # The same motion sampled on a regular grid gives the same velocity: the fit uses the
    # timestamps, not frame counts.
    velocity, _, fitted = pred.velocity()
    assert fitted.all()
    np.testing.assert_allclose(velocity, v, rtol=1e-4, atol=1e-3)


def test_missing_and_briefly_seen_joints_come_back_unchanged(rng) -> None:
    base, v = _base(rng), rng.normal(0, 150, (NUM_LANDMARKS, 2))
    wrist, knee = LM["left_wrist"], LM["right_knee"]
    pred = KinematicPredictor(order=1, damping_s=math.inf)
    times = np.arange(8) / 30
    for i, t in enumerate(times):
        pose = base.copy()
        pose[:, :2] += v * t
        if i == len(times) - 1:
            pose[wrist, :2] = np.nan  # gone now
        if i < len(times) - 2:
            pose[knee, :2] = np.nan  # seen in the last two poses only
        pred.update(pose, float(t))
    out = pred.predict(0.1)
    assert np.isnan(out[wrist, :2]).all()
    np.testing.assert_array_equal(out[knee, :2], (base[knee, :2] + v[knee] * times[-1])
                                  .astype(np.float32))
    moved = np.abs(out[:, :2] - (base[:, :2] + v * times[-1])).max(axis=1)
    assert moved[LM["left_elbow"]] > 1.0  # the others do move


def test_too_few_poses_and_zero_horizon_return_the_newest_pose(rng) -> None:
    pred = KinematicPredictor()
    assert np.isnan(pred.predict(0.1)[:, :2]).all()  # nothing seen yet
    base = _base(rng)
    pred.update(base, 0.0)
    pred.update(base + np.float32(5), 1 / 30)
    np.testing.assert_array_equal(pred.predict(0.1), base + np.float32(5))
    pred.update(base + np.float32(10), 2 / 30)
    out = pred.predict(0.1)
    assert out[0, 0] > base[0, 0] + 10  # three poses: now it extrapolates
    np.testing.assert_array_equal(pred.predict(0.0), base + np.float32(10))


def test_a_long_gap_restarts_the_history(rng) -> None:
    base = _base(rng)
    pred = KinematicPredictor(max_gap_s=0.5)
    for i in range(5):
        pred.update(base + np.float32(10 * i), i / 30)
    pred.update(base, 2.0)  # a second later: the old track says nothing about now
    np.testing.assert_array_equal(pred.predict(0.1), base)


def test_predict_is_fast(rng) -> None:
    pred = KinematicPredictor(order=1)
    base = _base(rng)
    for i in range(10):
        pred.update(base + rng.normal(0, 1, base.shape).astype(np.float32), i / 30)
    times = []
    for _ in range(300):
        start = time.perf_counter()
        pred.predict(0.1)
        times.append(time.perf_counter() - start)
    # 0.2 ms on an idle core; generous here for loaded test machines.
    assert np.median(times) < 1e-3
