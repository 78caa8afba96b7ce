"""The learned pose extrapolator: the shipped ONNX model, its runtime and its training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.body import standing_pose_at
from engine.errors import InputError
from engine.keypoints import LM
from engine.predict.base import Extrapolator
from engine.predict.learned import DEFAULT_MODEL, LearnedPredictor, resample_window
from train.predictor import (
    EVAL_SEEDS,
    TRAIN_SEEDS,
    VAL_SEEDS,
    NoPrediction,
    make_stream,
    sample_spec,
    score,
    train,
)

WRIST = LM["left_wrist"]


def moving_stream(n: int = 12, fps: float = 30.0) -> list[tuple[np.ndarray, float]]:
    """A standing body 600 px tall whose left wrist moves right at 300 px/s."""
    base = standing_pose_at(320.0, 700.0, 600.0)
    out = []
    for i in range(n):
        t = 10.0 + i / fps
        pose = base.copy()
        pose[WRIST, 0] += 300.0 * (t - 10.0)
        out.append((pose, t))
    return out


@pytest.fixture(scope="module")
def predictor() -> LearnedPredictor:
    return LearnedPredictor()  # the shipped model


def test_shipped_model_runs_within_the_protocol(predictor: LearnedPredictor) -> None:
    p: Extrapolator = predictor
    p.reset()
    for pose, t in moving_stream():
        p.update(pose, t)
    out = p.predict(0.1)
    newest = moving_stream()[-1][0]
    assert out.shape == (33, 3) and out.dtype == np.float32
    assert np.isfinite(out[:, :2]).all()
    # The wrist keeps going right; a joint at rest stays within 1% of the height.
    assert out[WRIST, 0] - newest[WRIST, 0] > 10.0
    still = LM["left_knee"]
    assert np.abs(out[still, :2] - newest[still, :2]).max() < 6.0
    np.testing.assert_array_equal(out[:, 2], newest[:, 2])
    assert DEFAULT_MODEL.stat().st_size < 300_000
    meta = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert "sidestep" not in meta["train_motions"] and "dance" not in meta["train_motions"]


def test_predict_zero_is_the_newest_pose(predictor: LearnedPredictor) -> None:
    predictor.reset()
    stream = moving_stream()
    for pose, t in stream:
        predictor.update(pose, t)
    np.testing.assert_array_equal(predictor.predict(0.0), stream[-1][0])
    assert not np.array_equal(predictor.predict(0.05), stream[-1][0])


def test_missing_joints_come_back_unchanged(predictor: LearnedPredictor) -> None:
    predictor.reset()
    stream = moving_stream()
    gone, flicker = LM["right_ankle"], LM["right_wrist"]
    for i, (pose, t) in enumerate(stream):
        pose = pose.copy()
        pose[gone, :2] = np.nan
        pose[gone, 2] = 0.0
        if i == len(stream) - 3:  # missing in one pose inside the window
            pose[flicker, :2] = np.nan
        predictor.update(pose, t)
    newest = stream[-1][0]
    out = predictor.predict(0.1)
    assert np.isnan(out[gone, :2]).all() and out[gone, 2] == 0.0
    np.testing.assert_array_equal(out[flicker], newest[flicker])
    assert out[WRIST, 0] > newest[WRIST, 0]  # the others are still predicted


def test_too_short_a_history_predicts_nothing(predictor: LearnedPredictor) -> None:
    predictor.reset()
    stream = moving_stream(n=3)
    for pose, t in stream:
        predictor.update(pose, t)
    np.testing.assert_array_equal(predictor.predict(0.1), stream[-1][0])


def test_resample_window_interpolates_in_time() -> None:
    times = np.array([0.0, 0.03, 0.09, 0.1, 0.16, 0.2, 0.27])
    xy = np.stack([np.stack([5 * times, -2 * times], axis=1)] * 2, axis=1)  # [n, 2, 2]
    window = resample_window(times, xy, 8, 1 / 30)
    grid = 0.27 - np.arange(7, -1, -1) / 30
    np.testing.assert_allclose(window[:, 0, 0], 5 * grid, atol=1e-12)
    np.testing.assert_allclose(window[:, 1, 1], -2 * grid, atol=1e-12)
    assert np.isnan(resample_window(times[2:], xy[2:], 8, 1 / 30)).all()  # too short


def test_held_out_motion_beats_not_predicting(predictor: LearnedPredictor) -> None:
    seed = 301
    assert seed not in range(TRAIN_SEEDS) and seed not in VAL_SEEDS + EVAL_SEEDS
    for motion in ("sidestep", "dance"):
        spec = sample_spec(motion, seed, seconds=5.0)
        stream = make_stream(spec, seed=seed)
        errors = score(stream, {"none": NoPrediction(), "learned": predictor}, (0.1,))
        none, learned = errors["none"][0.1], errors["learned"][0.1]
        assert none.size > 500
        assert learned.mean() < 0.8 * none.mean(), (motion, learned.mean(), none.mean())
        assert np.percentile(learned, 95) < np.percentile(none, 95)


def test_missing_model_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="train.predictor"):
        LearnedPredictor(tmp_path / "pose-predictor.onnx")


def test_training_runs_end_to_end(tmp_path: Path) -> None:
    meta = train(tmp_path, steps=20, seed=3, train_seeds=1, seconds=2.0, val_seeds=(100,),
                 eval_seeds=(), progress=False)
    model = tmp_path / "pose-predictor.onnx"
    assert model.is_file() and model.stat().st_size < 300_000
    saved = json.loads(model.with_suffix(".json").read_text())
    assert saved["k"] == meta["k"] == 8 and saved["train_seeds"] == [0]
    assert np.isfinite(saved["val_error"])
    p = LearnedPredictor(model)
    for pose, t in moving_stream():
        p.update(pose, t)
    assert np.isfinite(p.predict(0.1)[:, :2]).all()
