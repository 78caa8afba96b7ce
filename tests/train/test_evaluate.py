"""Evaluation: metric definitions, and a tiny trained run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import InputError
from train import evaluate as ev
from train.data import PreparedData
from train.trainer import TrainConfig, Trainer

KEYS = ("ssim", "psnr", "face_ssim", "flicker", "pose_distance", "redetect_rate")


def test_real_frames_score_perfectly(data_256, monkeypatch) -> None:
    """With the real frames as the 'generated' ones, every metric is at its best."""
    data = PreparedData(data_256)

    def real_frames(models, data, indices, progress=False):  # noqa: ANN001, ANN202, ARG001
        for i in indices:
            yield int(i), np.asarray(data.frames[i])

    monkeypatch.setattr(ev, "render_frames", real_frames)
    models = ev.TrainedModels(generator=None, face=None, stage="oracle", step=0)  # type: ignore
    m = ev.evaluate(models, data, "all")
    assert m["ssim"] == pytest.approx(1.0) and m["face_ssim"] == pytest.approx(1.0)
    assert m["flicker"] == pytest.approx(0.0) and m["psnr"] == ev.MAX_PSNR
    assert m["redetect_rate"] >= 0.95 and m["pose_distance"] < 0.02
    assert m["frames"] == len(data)


def test_a_shuffled_video_flickers(data_256, monkeypatch) -> None:
    data = PreparedData(data_256)
    order = np.random.default_rng(0).permutation(len(data))

    def shuffled(models, data, indices, progress=False):  # noqa: ANN001, ANN202, ARG001
        for i in indices:
            yield int(i), np.asarray(data.frames[order[i]])

    monkeypatch.setattr(ev, "render_frames", shuffled)
    models = ev.TrainedModels(generator=None, face=None, stage="oracle", step=0)  # type: ignore
    m = ev.evaluate(models, data, "all")
    assert m["flicker"] > 0.01 and m["ssim"] < 0.99 and m["pose_distance"] > 0.02


def test_tiny_run_end_to_end(tiny_data, tmp_path) -> None:
    run = tmp_path / "run"
    cfg = TrainConfig(preset="tiny", stage="temporal", iters=4, batch=1)
    Trainer(tiny_data, run, cfg, progress=False).run()
    Trainer(tiny_data, run, TrainConfig(preset="tiny", stage="face", iters=2, batch=1),
            progress=False).run()
    out = tmp_path / "m.json"
    m = ev.evaluate_run(run, tiny_data, "val", out)
    assert json.loads(out.read_text())["ssim"] == m["ssim"]
    assert m["stage"] == "face" and m["frames"] == 6
    for k in ("ssim", "face_ssim", "flicker", "redetect_rate"):
        assert 0.0 <= m[k] <= 1.0, k
    no_face = ev.evaluate_run(run, tiny_data, "val", use_face=False)
    assert no_face["stage"] == "temporal" and no_face["face_ssim"] != m["face_ssim"]
    assert all(k in m for k in KEYS)


def test_temporal_feedback_restarts_at_a_gap(tiny_data, tmp_path) -> None:
    run = tmp_path / "run"
    Trainer(tiny_data, run, TrainConfig(preset="tiny", stage="temporal", iters=3, batch=1),
            progress=False).run()
    models = ev.load_run(run)
    data = PreparedData(tiny_data)
    seq = dict(ev.render_frames(models, data, np.array([0, 1, 2, 7, 8])))
    alone = dict(ev.render_frames(models, data, np.array([7])))
    chained = dict(ev.render_frames(models, data, np.array([6, 7])))
    np.testing.assert_array_equal(seq[7], alone[7])  # after the gap: from zeros again
    assert not np.array_equal(chained[7], alone[7])  # contiguous: conditioned on frame 6


def test_missing_run_and_wrong_split(tiny_data, tmp_path) -> None:
    with pytest.raises(InputError, match="no checkpoint"):
        ev.load_run(tmp_path)
    with pytest.raises(InputError, match="unknown split"):
        PreparedData(tiny_data).indices("test")


def test_a_bundle_evaluates_like_its_run(tiny_run, tiny_bundles, tiny_data) -> None:
    """The exported artefact, run by ONNX Runtime or torch, scores like the checkpoint."""
    from engine.errors import InputError as Bad

    run_metrics = ev.evaluate_run(tiny_run, tiny_data, "val")
    for backend in ("ort-cpu", "torch"):
        m = ev.evaluate_run(tiny_bundles["fp32"], tiny_data, "val", backend=backend)
        assert m["backend"] == backend and m["frames"] == run_metrics["frames"]
        assert m["stage"] == "face" and m["generator_p50_ms"] > 0
        assert m["ssim"] == pytest.approx(run_metrics["ssim"], abs=0.01)
        assert m["face_ssim"] == pytest.approx(run_metrics["face_ssim"], abs=0.03)
    fp16 = ev.evaluate_run(tiny_bundles["fp16"], tiny_data, "val")
    assert fp16["precision"] == "fp16"
    assert fp16["ssim"] == pytest.approx(run_metrics["ssim"], abs=0.01)
    with pytest.raises(Bad, match="export it"):
        ev.evaluate_run(tiny_run, tiny_data, "val", backend="ort-cpu")
