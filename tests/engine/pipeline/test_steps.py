"""The label step's live behaviour: gaps bridged, neutral pose, restarts, resets."""

from __future__ import annotations

import numpy as np
import pytest

from engine.body import standing_pose
from engine.keypoints import LM, missing_pose
from engine.normalize import NormalizationStats
from engine.pipeline.frame import LiveFrame
from engine.pipeline.steps import LabelStep
from synth.clip import ClipSpec, synthesize

TARGET = NormalizationStats(far=180.0, close=230.0, median=210.0, height_far=120.0,
                            height_close=150.0, center_x=128.0, frames=100)


def test_standing_pose_stands_where_the_target_stands() -> None:
    pose = standing_pose(TARGET)
    ankles = pose[[LM["left_ankle"], LM["right_ankle"]], :2]
    assert ankles[:, 1] == pytest.approx([210.0, 210.0])
    height = ankles[:, 1].mean() - pose[LM["nose"], 1]
    assert 120.0 < height < 150.0  # interpolated at the median position
    assert pose[LM["left_shoulder"], 0] > 128.0 > pose[LM["right_shoulder"], 0]
    assert np.isfinite(pose).all()


def _frames():  # noqa: ANN202
    return list(synthesize(ClipSpec(actor="performer", motion="wave", seconds=4, size=256,
                                    fps=30, seed=2)))


def test_gap_is_held_then_eased_to_neutral_and_the_return_restarts() -> None:
    step = LabelStep(TARGET, 256, hold_seconds=0.5, ease_seconds=1.0, calibration_frames=10)
    clip = _frames()
    out = []
    for i, (image, kp) in enumerate(clip):
        f = LiveFrame(i, image, captured=i / 30)
        f.pose = missing_pose() if 30 <= i < 90 else kp  # gone for two seconds
        f.person = not 30 <= i < 90
        out.append(step(f))
    last_seen = out[29].normalized
    np.testing.assert_array_equal(out[40].normalized, last_seen)  # held (0.37 s in)
    mid = out[60].normalized  # 1 s in: half way through the ease
    assert not np.allclose(mid[:, :2], last_seen[:, :2])
    assert not np.allclose(mid[:, :2], step.neutral[:, :2])
    np.testing.assert_allclose(out[89].normalized[:, :2], step.neutral[:, :2], atol=1e-4)
    assert all(f.held for f in out[30:90]) and not out[90].held
    assert out[90].restart and not any(f.restart for f in out[31:90])
    assert all(f.label.shape == (1, 3, 256, 256) for f in out)
    assert out[60].face_box is not None


def test_reset_restarts_the_normalization() -> None:
    step = LabelStep(TARGET, 256, calibration_frames=10)
    clip = _frames()[:30]
    for i, (image, kp) in enumerate(clip[:20]):
        f = LiveFrame(i, image, captured=i / 30)
        f.pose, f.person = kp, True
        step(f)
    assert step.normalizer.calibrated
    step.request_reset()
    f = LiveFrame(20, clip[20][0], captured=20 / 30)
    f.pose, f.person = clip[20][1], True
    step(f)
    assert not step.normalizer.calibrated and len(step.normalizer._history) == 1


def test_prediction_shows_the_pose_ahead_and_stops_where_the_framing_holds() -> None:
    from engine.keypoints import LIMB_JOINTS
    from engine.predict.setting import parse_predict

    off = LabelStep(TARGET, 256, calibration_frames=10)
    ahead = LabelStep(TARGET, 256, calibration_frames=10, predict=parse_predict("100"))
    clip = _frames()
    plain, predicted = [], []
    for i, (image, kp) in enumerate(clip):
        for step, out in ((off, plain), (ahead, predicted)):
            f = LiveFrame(i, image, captured=i / 30)
            gone = 70 <= i < 80
            f.pose, f.person = (missing_pose(), False) if gone else (kp, True)
            out.append(step(f))
    # 100 ms ahead is 3 frames: the prediction is nearer the pose shown 3 frames later
    # than the pose of its own frame is (over the frames where the arm moves)
    later = [(p.normalized, q.normalized, r.normalized)
             for p, q, r in zip(plain[20:67], predicted[20:67], plain[23:70], strict=True)]
    moving = [(p, q, r) for p, q, r in later
              if np.linalg.norm(r[LIMB_JOINTS, :2] - p[LIMB_JOINTS, :2], axis=-1).max() > 2]
    assert len(moving) > 10
    err_plain = np.mean([np.linalg.norm(r[LIMB_JOINTS, :2] - p[LIMB_JOINTS, :2], axis=-1).mean()
                         for p, _, r in moving])
    err_pred = np.mean([np.linalg.norm(r[LIMB_JOINTS, :2] - q[LIMB_JOINTS, :2], axis=-1).mean()
                        for _, q, r in moving])
    assert err_pred < 0.8 * err_plain
    assert predicted[60].horizon_ms > 0 and plain[60].horizon_ms == 0
    # the held pose (nobody in view) is not predicted, and the prediction starts afresh
    # when the performer is back (no motion known yet: the pose as seen)
    assert all(f.held and f.horizon_ms == 0 for f in predicted[70:80])
    np.testing.assert_array_equal(predicted[75].normalized, plain[75].normalized)
    np.testing.assert_allclose(predicted[80].normalized, plain[80].normalized, atol=1e-3)
    ahead.set_predict(parse_predict("off"))
    f = LiveFrame(len(clip), clip[-1][0], captured=len(clip) / 30)
    f.pose, f.person = clip[-1][1], True
    g = LiveFrame(len(clip), clip[-1][0], captured=len(clip) / 30)
    g.pose, g.person = clip[-1][1], True
    np.testing.assert_array_equal(ahead(f).normalized, off(g).normalized)
    assert ahead.prediction == {"setting": "off", "horizon_ms": 0.0}
