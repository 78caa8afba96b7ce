"""Keypoints file format and the landmark tables."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.keypoints import (
    LANDMARK_NAMES,
    LIMB_JOINTS,
    LM,
    MIRROR,
    KeypointTrack,
    keypoints_path_for,
    missing_pose,
)


def test_landmark_layout_matches_blazepose() -> None:
    assert len(LANDMARK_NAMES) == 33
    assert LM["nose"] == 0 and LM["left_shoulder"] == 11 and LM["right_foot_index"] == 32
    assert sorted(LIMB_JOINTS) == [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    assert MIRROR[LM["left_wrist"]] == LM["right_wrist"] and MIRROR[LM["nose"]] == LM["nose"]
    assert all(MIRROR[MIRROR[i]] == i for i in range(33))


def test_roundtrip(tmp_path, rng) -> None:
    kp = rng.uniform(0, 500, (7, 33, 3)).astype(np.float32)
    kp[2] = missing_pose()
    path = KeypointTrack(kp, 29.97, (640, 480)).save(tmp_path / "a.kp.npz")
    back = KeypointTrack.load(path)
    np.testing.assert_array_equal(back.keypoints, kp)
    assert back.fps == pytest.approx(29.97) and back.size == (640, 480)
    assert back.detected().tolist() == [True, True, False, True, True, True, True]
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("shape", [(5, 32, 3), (5, 33, 2), (33, 3)])
def test_wrong_shape_is_rejected(shape) -> None:
    with pytest.raises(InputError, match="shape"):
        KeypointTrack(np.zeros(shape, np.float32), 30, (10, 10))


def test_bad_files_give_clear_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        KeypointTrack.load(tmp_path / "missing.kp.npz")
    (tmp_path / "junk.kp.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read"):
        KeypointTrack.load(tmp_path / "junk.kp.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(InputError, match="missing"):
        KeypointTrack.load(tmp_path / "other.npz")


def test_keypoints_path_for() -> None:
    assert keypoints_path_for("/a/b/clip.mp4").name == "clip.kp.npz"
    assert keypoints_path_for("clip.y4m", tag="pose").name == "clip.pose.kp.npz"


def test_one_rule_for_a_joint_that_is_not_there() -> None:
    from engine.keypoints import MIN_VISIBILITY, drop_unseen, visible_mask

    pose = np.zeros((33, 3), np.float32)
    pose[:, :2] = 50.0
    pose[:, 2] = 1.0
    pose[1, 2] = MIN_VISIBILITY / 2  # barely visible
    pose[2, :2] = np.nan  # not found
    pose[3, 0] = -1.0  # left of the frame
    pose[4, 1] = 101.0  # below it
    mask = visible_mask(pose, (100, 100))
    assert not mask[[1, 2, 3, 4]].any() and mask[[0] + list(range(5, 33))].all()
    assert visible_mask(pose)[[3, 4]].all()  # without a frame, position does not count
    dropped = drop_unseen(pose, (100, 100))
    assert np.isnan(dropped[[1, 2, 3, 4], :2]).all() and (dropped[[1, 2, 3, 4], 2] == 0).all()
    np.testing.assert_array_equal(dropped[5:], pose[5:])
    batch = np.stack([pose, pose])
    assert visible_mask(batch, (100, 100)).shape == (2, 33)
