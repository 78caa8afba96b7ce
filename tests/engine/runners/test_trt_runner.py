"""The native TensorRT backend: cache naming everywhere, engines where TensorRT exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.avatar import load_bundle, open_runner
from engine.errors import BackendUnavailable
from engine.runners import available_backends
from engine.runners.trt_runner import DeviceInfo, cache_folder, engine_path

TRT_MISSING = available_backends()["trt"]


def test_engine_cache_is_keyed_by_gpu_version_and_onnx_hash(tmp_path) -> None:
    model = tmp_path / "generator.onnx"
    model.write_bytes(b"one")
    h100 = DeviceInfo("NVIDIA H100 80GB HBM3", 9, 0)
    folder = cache_folder(model, h100, "10.3.0")
    assert folder == tmp_path / "engines" / "nvidia-h100-80gb-hbm3-sm90-trt10.3.0"
    first = engine_path(model, h100, "10.3.0", "fp16")
    assert first.parent == folder and first.name.startswith("generator-")
    assert first.name.endswith("-fp16.engine")
    model.write_bytes(b"two")
    assert engine_path(model, h100, "10.3.0", "fp16") != first
    assert engine_path(model, DeviceInfo("NVIDIA L4", 8, 9), "10.3.0", "fp16").parent != folder
    assert engine_path(model, h100, "10.4.0", "fp16").parent != folder


@pytest.mark.skipif(TRT_MISSING is None, reason="TensorRT is available here")
def test_unavailable_backend_says_what_it_needs(tiny_bundles) -> None:
    assert "TensorRT" in TRT_MISSING or "CUDA" in TRT_MISSING or "cuda" in TRT_MISSING
    with pytest.raises(BackendUnavailable, match="backend trt is not available here"):
        open_runner(load_bundle(tiny_bundles["fp32"]), "generator", "trt")


@pytest.mark.skipif(TRT_MISSING is not None, reason=f"TensorRT backend: {TRT_MISSING}")
def test_trt_engine_matches_onnx_runtime_and_is_cached(tiny_bundles, rng) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    with open_runner(bundle, "generator", "trt", precision="fp32") as trt, \
            open_runner(bundle, "generator", "ort-cpu") as ort:
        feed = {s.name: rng.uniform(-1, 1, s.shape).astype(np.float32) for s in ort.inputs}
        expected = ort.infer(feed)["frame"].copy()
        for _ in range(3):  # the first call enqueues, later ones replay the CUDA graph
            np.testing.assert_allclose(trt.infer(feed)["frame"], expected, atol=1e-3)
    engines = list(Path(bundle.root, "engines").rglob("*.engine"))
    assert len(engines) == 1
    with open_runner(bundle, "generator", "trt", precision="fp32") as again:
        assert again.build_seconds == 0.0
