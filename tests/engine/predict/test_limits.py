"""Body limits: bone lengths kept, joint angles clamped to the ranges, ranges stored."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.body import standing_pose_at
from engine.errors import InputError
from engine.keypoints import LM
from engine.predict.kinematic import KinematicPredictor
from engine.predict.limits import ANGLES, AngleRange, BodyLimits, joint_angles, mirrored

SH, EL, WR = LM["left_shoulder"], LM["left_elbow"], LM["left_wrist"]
HIP, KNEE, ANKLE = LM["left_hip"], LM["left_knee"], LM["left_ankle"]
BONES = [(SH, EL), (EL, WR), (WR, LM["left_index"]), (HIP, KNEE), (KNEE, ANKLE),
         (LM["right_shoulder"], LM["right_elbow"]), (LM["right_elbow"], LM["right_wrist"])]


def _length(pose: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(pose[a, :2].astype(np.float64) - pose[b, :2]))


def _rotate_about(pose: np.ndarray, joints: list[int], center: int, angle: float) -> None:
    c, s = math.cos(angle), math.sin(angle)
    rel = pose[joints, :2] - pose[center, :2]
    pose[joints, :2] = pose[center, :2] + rel @ np.array([[c, s], [-s, c]], np.float32)


def _swinging_arm(t: float) -> np.ndarray:
    """A standing body whose left arm swings fast about the shoulder."""
    pose = standing_pose_at(256, 450, 340)
    arm = [EL, WR, LM["left_pinky"], LM["left_index"], LM["left_thumb"]]
    _rotate_about(pose, arm, SH, -8.0 * t)  # about 460 deg/s
    return pose


def _predicted_swing() -> tuple[np.ndarray, np.ndarray]:
    pred = KinematicPredictor(order=1, damping_s=math.inf)
    for i in range(8):
        pred.update(_swinging_arm(i / 30), i / 30)
    return pred.predict(0.3), _swinging_arm(7 / 30)


def test_bone_lengths_are_kept() -> None:
    predicted, observed = _predicted_swing()
    # Straight-line extrapolation of a rotating arm stretches it...
    assert abs(_length(predicted, EL, WR) - _length(observed, EL, WR)) > 2.0
    limited = BodyLimits().apply(predicted, observed)
    for a, b in BONES:
        assert _length(limited, a, b) == pytest.approx(_length(observed, a, b), abs=1e-3)
    # ...and the limited arm still points where the prediction went.
    dir_pred = predicted[WR, :2] - predicted[EL, :2]
    dir_lim = limited[WR, :2] - limited[EL, :2]
    cos = dir_pred @ dir_lim / np.linalg.norm(dir_pred) / np.linalg.norm(dir_lim)
    assert cos > 0.99


def test_torso_keeps_its_shape_and_follows_the_prediction() -> None:
    observed = standing_pose_at(256, 450, 340)
    predicted = observed.copy()
    predicted[[SH, LM["right_shoulder"], HIP, LM["right_hip"]], :2] += [[12, 0], [8, 3],
                                                                       [9, -2], [11, 1]]
    face = list(range(LM["nose"], LM["mouth_right"] + 1))
    predicted[face, :2] += [10, 0.5]  # the head goes along
    limited = BodyLimits().apply(predicted, observed)
    torso = [SH, LM["right_shoulder"], HIP, LM["right_hip"]]
    dists = lambda p: np.linalg.norm(p[torso, None, :2] - p[None, torso, :2], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dists(limited), dists(observed), atol=1e-3)
    shift = limited[torso, :2].mean(0) - observed[torso, :2].mean(0)
    np.testing.assert_allclose(shift, [10, 0.5], atol=1e-3)
    # The face moved rigidly with the neck and the nose.
    eye = LM["left_eye"]
    assert _length(limited, LM["nose"], eye) == pytest.approx(_length(observed, LM["nose"], eye),
                                                              abs=1e-3)
    np.testing.assert_allclose(limited[face, :2] - observed[face, :2], np.tile([10, 0.5], (11, 1)),
                               atol=0.3)


def _bent_elbow(angle: float) -> np.ndarray:
    """Standing pose with the left forearm turned by `angle` about the elbow."""
    pose = standing_pose_at(256, 450, 340)
    # Straighten the forearm along the upper arm first, then bend it.
    upper = pose[EL, :2] - pose[SH, :2]
    hand = [WR, LM["left_pinky"], LM["left_index"], LM["left_thumb"]]
    offset = pose[hand, :2] - pose[WR, :2]
    pose[WR, :2] = pose[EL, :2] + upper / np.linalg.norm(upper) * 60
    pose[hand, :2] = pose[WR, :2] + offset
    _rotate_about(pose, hand, EL, angle)
    return pose


def test_elbow_angle_is_clamped_to_its_range() -> None:
    limits = BodyLimits({"left_elbow": AngleRange(0.0, -0.2, 1.0)})
    observed, predicted = _bent_elbow(0.8), _bent_elbow(2.0)
    assert joint_angles(predicted)["left_elbow"] == pytest.approx(2.0, abs=1e-4)
    limited = limits.apply(predicted, observed)
    assert joint_angles(limited)["left_elbow"] == pytest.approx(1.0, abs=1e-4)
    # Without the range the prediction stands.
    unlimited = BodyLimits().apply(predicted, observed)
    assert joint_angles(unlimited)["left_elbow"] == pytest.approx(2.0, abs=1e-4)
    # Within the range nothing changes.
    inside = limits.apply(_bent_elbow(0.5), observed)
    assert joint_angles(inside)["left_elbow"] == pytest.approx(0.5, abs=1e-4)


def test_an_observed_angle_outside_the_range_is_kept() -> None:
    limits = BodyLimits({"left_elbow": AngleRange(0.0, -0.2, 1.0)})
    observed = _bent_elbow(1.5)  # the camera sees more than the range allows
    limited = limits.apply(observed, observed)
    assert joint_angles(limited)["left_elbow"] == pytest.approx(1.5, abs=1e-4)
    # A prediction past it is clamped to it, not to the range.
    limited = limits.apply(_bent_elbow(2.2), observed)
    assert joint_angles(limited)["left_elbow"] == pytest.approx(1.5, abs=1e-4)


def test_knee_angle_is_clamped() -> None:
    limits = BodyLimits({"left_knee": AngleRange(0.0, -0.3, 0.3)})
    observed = standing_pose_at(256, 450, 340)
    predicted = observed.copy()
    _rotate_about(predicted, [ANKLE, LM["left_heel"], LM["left_foot_index"]], KNEE, 1.2)
    limited = limits.apply(predicted, observed)
    before = joint_angles(observed)["left_knee"]
    assert joint_angles(predicted)["left_knee"] > 0.3 + before
    assert joint_angles(limited)["left_knee"] == pytest.approx(0.3, abs=1e-4)


def test_missing_joints_stay_missing() -> None:
    predicted, observed = _predicted_swing()
    predicted[EL, :2] = observed[EL, :2] = np.nan
    limited = BodyLimits.shipped().apply(predicted, observed)
    assert np.isnan(limited[EL, :2]).all()
    # The wrist hangs from a missing elbow: it keeps its prediction.
    np.testing.assert_array_equal(limited[WR], predicted[WR])


def test_ranges_from_keypoints_cover_the_data_and_round_trip(tmp_path, rng) -> None:
    poses = []
    for angle in rng.uniform(-0.3, 1.2, 400):
        poses.append(_bent_elbow(float(angle)))
    kp = np.stack(poses)
    limits = BodyLimits.from_keypoints(kp, margin=0.1)
    r = limits.ranges["left_elbow"]
    assert -0.45 < r.low < -0.3 and 1.2 < r.high < 1.35
    path = limits.save(tmp_path / "limits.json")
    loaded = BodyLimits.load(path)
    assert loaded.ranges == limits.ranges
    (tmp_path / "bad.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError):
        BodyLimits.load(tmp_path / "bad.json")


def test_shipped_ranges_cover_every_angle_symmetrically() -> None:
    limits = BodyLimits.shipped()
    assert set(limits.ranges) == set(ANGLES)
    for name in ANGLES:
        if name.startswith("left_"):
            left, right = limits.ranges[name], limits.ranges["right_" + name[5:]]
            # Mirrored copies of the corpus: the right side's range is the left's, negated.
            assert left.low == pytest.approx(-right.high, abs=1e-6)
            # And every range admits standing still.
    standing = joint_angles(standing_pose_at(0, 0, 1))
    for name, r in limits.ranges.items():
        assert r.clamp(float(standing[name])) == pytest.approx(float(standing[name]))


def test_mirrored_negates_the_angles() -> None:
    pose = _bent_elbow(0.7)
    assert joint_angles(mirrored(pose))["right_elbow"] == pytest.approx(-0.7, abs=1e-4)


def test_the_cli_writes_ranges_from_the_corpus(tmp_path) -> None:
    from engine.predict.limits import main

    out = tmp_path / "limits.json"
    assert main(["--write", "--out", str(out), "--seeds", "0", "--seconds", "1"]) == 0
    limits = BodyLimits.load(out)
    assert set(limits.ranges) == set(ANGLES)
    assert limits.meta["seeds"] == [0]
