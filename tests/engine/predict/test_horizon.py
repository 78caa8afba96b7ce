"""The horizon: capped, and backed off where prediction does worse than none."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.body import standing_pose_at
from engine.keypoints import LM
from engine.predict.horizon import HorizonControl
from engine.predict.predictor import PosePredictor

FPS = 30.0


def test_the_horizon_is_capped() -> None:
    control = HorizonControl(cap_s=0.15)
    assert control.horizon(0.4) == pytest.approx(0.15)
    assert control.horizon(0.1) == pytest.approx(0.1)
    stats = control.stats()
    assert stats["requested_ms"] == pytest.approx(100) and stats["cap_ms"] == pytest.approx(150)
    assert set(stats) >= {"requested_ms", "cap_ms", "horizon_ms", "backoff", "error_ratio"}
    assert control.horizon(None) == 0.0 and control.horizon(-1.0) == 0.0


def test_predictor_uses_the_capped_horizon() -> None:
    predictor = PosePredictor(limits=None)
    base = standing_pose_at(256, 450, 340)
    for i in range(10):
        predictor(base + np.float32(3 * i), i / FPS, 0.4)
    assert predictor.stats()["horizon_ms"] == pytest.approx(150)
    assert predictor.stats()["requested_ms"] == pytest.approx(400)


def _run(poses, seconds: float, delay: float = 0.125) -> PosePredictor:
    predictor = PosePredictor(limits=None)
    for i in range(int(seconds * FPS)):
        predictor(poses(i / FPS), i / FPS, delay)
    return predictor


def test_backoff_on_white_noise(rng) -> None:
    base = standing_pose_at(256, 450, 340)

    def jitter(t: float) -> np.ndarray:
        pose = base.copy()
        pose[:, :2] += rng.normal(0, 3.0, pose[:, :2].shape).astype(np.float32)
        return pose

    predictor = _run(jitter, 3.0)
    stats = predictor.stats()
    assert stats["backoff"] < 0.3
    assert stats["horizon_ms"] < 0.3 * stats["cap_ms"]
    assert stats["error_ratio"] > 0.9


def _sinusoid(t: float) -> np.ndarray:
    pose = standing_pose_at(256, 450, 340)
    pose[:, 0] += 40 * math.sin(2 * math.pi * 0.8 * t)
    arm = [LM["left_elbow"], LM["left_wrist"], LM["left_index"]]
    pose[arm, 1] += 30 * math.sin(2 * math.pi * 1.3 * t)
    return pose


def test_no_backoff_on_a_smooth_sinusoid() -> None:
    predictor = _run(_sinusoid, 6.0)
    stats = predictor.stats()
    assert stats["backoff"] >= 0.9
    assert stats["horizon_ms"] >= 0.9 * 125
    assert stats["error_ratio"] < 0.9


def test_backoff_recovers_when_prediction_pays_again(rng) -> None:
    base = standing_pose_at(256, 450, 340)
    predictor = PosePredictor(limits=None)
    t = 0.0
    for _ in range(int(2 * FPS)):
        pose = base.copy()
        pose[:, :2] += rng.normal(0, 3.0, pose[:, :2].shape).astype(np.float32)
        predictor(pose, t, 0.125)
        t += 1 / FPS
    assert predictor.stats()["backoff"] < 0.3
    for _ in range(int(5 * FPS)):
        predictor(_sinusoid(t), t, 0.125)
        t += 1 / FPS
    assert predictor.stats()["backoff"] >= 0.9


def test_pending_predictions_are_bounded() -> None:
    control = HorizonControl(max_pending=64)
    pose = standing_pose_at(256, 450, 340)
    for i in range(200):
        control.record(100.0 + i, pose, pose)  # never reached
    assert control.pending == 64


def test_grading_interpolates_between_the_poses_around_the_target() -> None:
    control = HorizonControl(floor_px=0.0, alpha=1.0)
    a = standing_pose_at(256, 450, 340)
    b = a.copy()
    b[:, 0] += 30
    control.update(a, 0.0)
    halfway = a.copy()
    halfway[:, 0] += 15
    control.record(0.05, halfway, a)  # a perfect prediction of the midpoint
    control.update(b, 0.1)
    assert control.graded == 1
    assert control.error_ratio == pytest.approx(0.0, abs=1e-6)
    assert control.backoff == 1.0
