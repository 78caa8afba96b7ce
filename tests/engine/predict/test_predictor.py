"""PosePredictor: the extrapolator, the horizon and the limits put together."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from engine.body import standing_pose_at
from engine.errors import InputError
from engine.keypoints import LIMB_JOINTS, LM
from engine.predict import KinematicPredictor, PosePredictor, make_extrapolator

FPS = 30.0
EL, WR = LM["left_elbow"], LM["left_wrist"]


def _moving(t: float) -> np.ndarray:
    pose = standing_pose_at(256, 450, 340)
    pose[:, 0] += 120 * t
    pose[WR, 1] -= 300 * t  # the forearm rises fast: a straight line shortens it
    return pose


def test_no_delay_means_no_change() -> None:
    predictor = PosePredictor()
    for i in range(10):
        pose = _moving(i / FPS)
        for delay in (0.0, None):
            out = predictor(pose, i / FPS, delay)
            np.testing.assert_array_equal(out, pose)
            assert out is not pose


def test_predicts_ahead_within_the_limits() -> None:
    predictor = PosePredictor(cap_s=0.15)
    raw = PosePredictor(cap_s=0.15, limits=None)
    for i in range(12):
        t = i / FPS
        out = predictor(_moving(t), t, 0.1)
        unlimited = raw(_moving(t), t, 0.1)
    now = _moving(11 / FPS)
    nose = LM["nose"]
    assert out[nose, 0] > now[nose, 0] + 5  # moved forward along the motion
    bone = lambda p: np.linalg.norm(p[WR, :2] - p[EL, :2])  # noqa: E731
    assert bone(out) == pytest.approx(bone(now), abs=1e-3)
    assert abs(bone(unlimited) - bone(now)) > 1e-2
    stats = predictor.stats()
    assert stats["method"] == "kinematic" and stats["requested_ms"] == pytest.approx(100)
    assert 80 < stats["horizon_ms"] <= 100  # the mean over the joints, backed off or not


def test_reset_forgets_the_motion() -> None:
    predictor = PosePredictor()
    for i in range(10):
        predictor(_moving(i / FPS), i / FPS, 0.1)
    predictor.reset()
    pose = _moving(0.0)
    np.testing.assert_array_equal(predictor(pose, 5.0, 0.1), pose)
    assert predictor.stats()["graded"] == 0


def test_still_joints_are_not_predicted_while_a_moving_arm_is(rng) -> None:
    predictor = PosePredictor(cap_s=0.15, limits=None)
    base = standing_pose_at(256, 450, 340)
    for i in range(90):
        t = i / FPS
        pose = base.copy()
        pose[:, :2] += rng.normal(0, 1.0, pose[:, :2].shape)  # the estimator's jitter
        pose[WR, 0] += 60 * np.sin(2 * np.pi * t)  # one wrist waves
        pose[EL, 0] += 30 * np.sin(2 * np.pi * t)
        predictor(pose, t, 0.12)
    backoff = dict(zip(LIMB_JOINTS, predictor.control.backoffs, strict=True))
    assert backoff[WR] > 0.8 and backoff[EL] > 0.8
    still = [backoff[LM[n]] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
    assert max(still) < 0.3
    assert predictor.control.joint_backoff()[LM["left_index"]] == backoff[WR]


def test_methods() -> None:
    assert make_extrapolator("kinematic").order == 1  # type: ignore[attr-defined]
    assert make_extrapolator("kinematic2").order == 2  # type: ignore[attr-defined]
    assert isinstance(PosePredictor("kinematic2").extrapolator, KinematicPredictor)
    with pytest.raises(InputError, match="unknown prediction method"):
        make_extrapolator("psychic")


def test_learned_without_its_module_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "engine.predict.learned", None)
    with pytest.raises(InputError, match="learned pose predictor is not available"):
        make_extrapolator("learned")
