"""Pose accuracy measures: PCK against ground truth and detection rate."""

from __future__ import annotations

import numpy as np

from engine.keypoints import LIMB_JOINTS, LM


def torso_height(kp: np.ndarray) -> np.ndarray:
    """Distance from mid-shoulder to mid-hip per frame, `[T]` (pixels)."""
    kp = np.asarray(kp)
    mid_sh = (kp[:, LM["left_shoulder"], :2] + kp[:, LM["right_shoulder"], :2]) / 2
    mid_hip = (kp[:, LM["left_hip"], :2] + kp[:, LM["right_hip"], :2]) / 2
    return np.linalg.norm(mid_sh - mid_hip, axis=1)


def joint_errors(pred: np.ndarray, truth: np.ndarray,
                 joints: tuple[int, ...] = LIMB_JOINTS) -> np.ndarray:
    """Pixel distance `[T, J]` between predicted and true joints (NaN where missing)."""
    p = np.asarray(pred)[:, joints, :2]
    t = np.asarray(truth)[:, joints, :2]
    return np.linalg.norm(p - t, axis=2)


def pck(pred: np.ndarray, truth: np.ndarray, threshold: float,
        joints: tuple[int, ...] = LIMB_JOINTS) -> float:
    """Fraction of joints within `threshold` x torso height of the truth.

    Joints the estimator missed count as wrong; frames without ground truth are ignored.
    """
    err = joint_errors(pred, truth, joints)
    ref = torso_height(truth)[:, None]
    valid = np.isfinite(ref) & np.isfinite(np.asarray(truth)[:, joints, 0])
    hit = np.where(np.isfinite(err), err <= threshold * ref, False)
    return float(hit[valid].mean()) if valid.any() else float("nan")


def detection_rate(pred: np.ndarray) -> float:
    """Fraction of frames where the estimator found a person."""
    pred = np.asarray(pred)
    return float((~np.all(np.isnan(pred[:, :, 0]), axis=1)).mean())
