"""The torch backend runs a bundle's torch.export program like ONNX Runtime runs its ONNX."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.avatar import load_bundle, open_runner
from engine.errors import BackendUnavailable, InputError
from engine.runners import create_runner


def _feed(runner, rng):  # noqa: ANN001, ANN202
    return {s.name: rng.uniform(-1, 1, s.shape).astype(np.float32) for s in runner.inputs}


@pytest.mark.parametrize("name", ["generator", "face"])
def test_torch_program_matches_onnx_runtime(tiny_bundles, rng, name) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    with open_runner(bundle, name, "torch", device="cpu") as t, \
            open_runner(bundle, name, "ort-cpu") as o:
        assert [s.name for s in t.inputs] == [s.name for s in o.inputs]
        assert [(s.name, s.shape) for s in t.outputs] == [(s.name, s.shape) for s in o.outputs]
        feed = _feed(t, rng)
        out_t = {k: v.copy() for k, v in t.infer(feed).items()}
        out_o = o.infer(feed)
        for key in out_o:
            np.testing.assert_allclose(out_t[key], out_o[key], atol=1e-4)
        assert t.times.summary()["calls"] == 1


def test_compiled_program_gives_the_same_frames(tiny_bundles, rng) -> None:
    pytest.importorskip("torch._dynamo")
    bundle = load_bundle(tiny_bundles["fp32"])
    with open_runner(bundle, "face", "torch", device="cpu") as eager, \
            open_runner(bundle, "face", "torch", device="cpu", compile=True) as compiled:
        feed = _feed(eager, rng)
        np.testing.assert_allclose(eager.infer(feed)["residual"].copy(),
                                   compiled.infer(feed)["residual"], atol=1e-4)


def test_bad_options_and_files(tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    with pytest.raises(InputError, match="precision"):
        open_runner(bundle, "face", "torch", precision="int8")
    with pytest.raises(InputError, match=".pt2"), \
            create_runner("torch", bundle.model_path("face")):
        pass
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="NVIDIA GPU"), \
                open_runner(bundle, "face", "torch", device="cuda"):
            pass
        with pytest.raises(InputError, match="cuda only"), \
                open_runner(bundle, "face", "torch", precision="fp16"):
            pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp16_close_to_cpu_fp32(tiny_bundles, rng) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    with open_runner(bundle, "generator", "torch", device="cpu") as cpu, \
            open_runner(bundle, "generator", "torch", device="cuda", precision="fp16") as gpu:
        feed = _feed(cpu, rng)
        np.testing.assert_allclose(cpu.infer(feed)["frame"].copy(), gpu.infer(feed)["frame"],
                                   atol=2e-2)
