"""ONNX Runtime runners on a tiny exported generator."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch

from engine.errors import InputError
from engine.runners import RunnerUnavailable, available_backends, create_runner


def test_ort_cpu_matches_torch_and_reuses_its_buffer(tiny_onnx, rng) -> None:
    path, g = tiny_onnx
    label = rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
    prev = rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
    with create_runner("ort-cpu", path) as runner:
        assert [s.name for s in runner.inputs] == ["label", "previous"]
        out = runner.infer({"label": label, "previous": prev})
        with torch.no_grad():
            ref = g(torch.from_numpy(label), torch.from_numpy(prev)).numpy()
        assert out["frame"].shape == (1, 3, 64, 64)
        assert np.abs(out["frame"] - ref).max() < 1e-4
        first = out["frame"]
        again = runner.infer({"label": -label, "previous": prev})
        assert again["frame"] is first  # preallocated and overwritten
        assert runner.times.summary()["calls"] == 2


def test_bad_feeds_are_rejected(tiny_onnx) -> None:
    path, _ = tiny_onnx
    with create_runner("ort-cpu", path) as runner:
        with pytest.raises(InputError, match="expects inputs"):
            runner.infer({"label": np.zeros((1, 3, 64, 64), np.float32)})
        with pytest.raises(InputError, match="shape"):
            runner.infer({"label": np.zeros((1, 3, 32, 32), np.float32),
                          "previous": np.zeros((1, 3, 64, 64), np.float32)})


def test_runner_must_be_entered(tiny_onnx) -> None:
    runner = create_runner("ort-cpu", tiny_onnx[0])
    with pytest.raises(RuntimeError, match="with"):
        runner.infer({})


def test_unknown_missing_and_unavailable(tmp_path, tiny_onnx) -> None:
    with pytest.raises(InputError, match="unknown backend"):
        create_runner("nope", tiny_onnx[0])
    with pytest.raises(InputError, match="model not found"):
        create_runner("ort-cpu", tmp_path / "missing.onnx")
    status = available_backends()
    assert status["ort-cpu"] is None
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert "onnxruntime-gpu" in status["ort-cuda"]
        with pytest.raises(RunnerUnavailable, match="ort-cuda is not available here"):
            create_runner("ort-cuda", tiny_onnx[0])
