"""PCK and detection rate."""

from __future__ import annotations

import numpy as np
import pytest

from engine.keypoints import LIMB_JOINTS, LM, missing_pose
from engine.metrics import detection_rate, pck, torso_height


def _pose() -> np.ndarray:
    p = np.zeros((33, 3), np.float32)
    p[:, 2] = 1
    p[LM["left_shoulder"], :2] = (60, 0)
    p[LM["right_shoulder"], :2] = (40, 0)
    p[LM["left_hip"], :2] = (60, 100)
    p[LM["right_hip"], :2] = (40, 100)
    return p


def test_pck_thresholds_scale_with_torso() -> None:
    truth = np.stack([_pose()] * 2)
    assert torso_height(truth).tolist() == [100.0, 100.0]
    pred = truth.copy()
    pred[:, LIMB_JOINTS[0], 0] += 15  # one joint off by 0.15 torso
    assert pck(pred, truth, 0.2) == 1.0
    assert pck(pred, truth, 0.1) == pytest.approx(11 / 12)


def test_missed_frames_count_against_pck() -> None:
    truth = np.stack([_pose()] * 4)
    pred = truth.copy()
    pred[0] = missing_pose()
    assert pck(pred, truth, 0.2) == pytest.approx(0.75)
    assert detection_rate(pred) == pytest.approx(0.75)
