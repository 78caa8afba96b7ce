"""Forward kinematics: fixed bones, feet on the floor, turning, projection."""

from __future__ import annotations

import numpy as np
import pytest

from engine.keypoints import LM
from synth.body import Camera, Limb, PoseParams, Proportions, forward_kinematics
from synth.retarget import TREE, _with_virtual


def _lengths(body: Proportions, pose: PoseParams) -> np.ndarray:
    pts, _ = forward_kinematics(body, pose)
    p = _with_virtual(pts)
    return np.array([np.linalg.norm(p[c] - p[a]) for a, c in TREE])


def test_bone_lengths_do_not_change_with_pose() -> None:
    body = Proportions()
    rest = _lengths(body, PoseParams())
    wild = PoseParams(x=0.3, depth=4.0, yaw=0.7, lean=0.2, bend=0.3, head_tilt=0.2,
                      left_arm=Limb(2.5, 0.4, 0.8, 0.3), right_arm=Limb(0.3, -0.5, 0.2, 1.0),
                      left_leg=Limb(0.8, 0.6, 0.0, -1.5), right_leg=Limb(0.1, 0.0, 0.0, -0.2))
    np.testing.assert_allclose(_lengths(body, wild), rest, atol=1e-9)
    assert rest[TREE.index((LM["left_shoulder"], LM["left_elbow"]))] == pytest.approx(
        body.upper_arm)


def test_lowest_foot_touches_the_ground_and_lift_raises_it() -> None:
    body = Proportions()
    feet = [LM[n] for n in ("left_heel", "right_heel", "left_foot_index", "right_foot_index")]
    squat = PoseParams(left_leg=Limb(0.1, 1.2, 0, -2.0), right_leg=Limb(0.1, 1.2, 0, -2.0))
    for pose in (PoseParams(), squat):
        pts, _ = forward_kinematics(body, pose)
        assert pts[feet, 1].min() == pytest.approx(0.0, abs=1e-9)
    pts_sq, _ = forward_kinematics(body, squat)
    pts_up, _ = forward_kinematics(body, PoseParams())
    assert pts_sq[LM["left_hip"], 1] < pts_up[LM["left_hip"], 1] - 0.1  # squatting is lower
    pts, _ = forward_kinematics(body, PoseParams(lift=0.2))
    assert pts[feet, 1].min() == pytest.approx(0.2)


def test_yaw_turns_the_left_side_away() -> None:
    pts, _ = forward_kinematics(Proportions(), PoseParams(yaw=0.6, depth=3.0))
    assert pts[LM["left_shoulder"], 2] < pts[LM["right_shoulder"], 2]  # left is farther
    front, _ = forward_kinematics(Proportions(), PoseParams(depth=3.0))
    assert front[LM["left_shoulder"], 0] > front[LM["right_shoulder"], 0]  # left on image right


def test_projection_nearer_is_bigger_and_lower() -> None:
    cam = Camera.for_size(512, 512)
    near, _ = forward_kinematics(Proportions(), PoseParams(depth=3.0))
    far, _ = forward_kinematics(Proportions(), PoseParams(depth=4.5))
    (uv_n, _), (uv_f, _) = cam.project(near), cam.project(far)
    h = lambda uv: uv[LM["left_ankle"], 1] - uv[LM["nose"], 1]  # noqa: E731
    assert h(uv_n) > h(uv_f) * 1.4
    assert uv_n[LM["left_ankle"], 1] > uv_f[LM["left_ankle"], 1]
    assert cam.scale_at(3.0) == pytest.approx(cam.focal / 3.0)
