"""The OpenVINO runner (`ov-cpu`) on a tiny exported generator, and the `auto` choice."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
import torch

from engine.errors import InputError
from engine.runners import create_runner
from engine.runners.ov_runner import cpu_has_bf16
from train.models import Generator
from train.presets import get_preset

pytest.importorskip("openvino")


def _feed(rng: np.random.Generator, batch: int = 1) -> dict[str, np.ndarray]:
    return {name: rng.uniform(-1, 1, (batch, 3, 64, 64)).astype(np.float32)
            for name in ("label", "previous")}


def _reference(g: Generator, feed: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return g(torch.from_numpy(feed["label"]), torch.from_numpy(feed["previous"])).numpy()


def test_f32_matches_torch_and_reuses_its_buffer(tiny_onnx, rng) -> None:
    path, g = tiny_onnx
    feed = _feed(rng)
    with create_runner("ov-cpu", path, threads=1, precision="f32") as runner:
        assert runner.backend == "ov-cpu"
        assert [s.name for s in runner.inputs] == ["label", "previous"]
        assert [(s.name, s.shape) for s in runner.outputs] == [("frame", (1, 3, 64, 64))]
        out = runner.infer(feed)
        assert np.abs(out["frame"] - _reference(g, feed)).max() < 1e-4
        first = out["frame"]
        again = runner.infer({**feed, "label": -feed["label"]})
        assert np.shares_memory(again["frame"], first)  # the runner's buffer, overwritten
        assert not np.allclose(again["frame"], _reference(g, feed))
        assert runner.times.summary()["calls"] == 2


def test_auto_asks_for_bfloat16_exactly_where_the_cpu_has_it(tiny_onnx) -> None:
    runner = create_runner("ov-cpu", tiny_onnx[0], threads=1)
    assert runner.resolved_precision() == ("bf16" if cpu_has_bf16() else "f32")
    with runner:
        compiled = next(iter(runner._requests.values())).get_compiled_model()
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    assert hint == ("bf16" if cpu_has_bf16() else "f32")


def test_auto_precision_stays_close_to_float32(tiny_onnx, rng) -> None:
    """bfloat16 (where the CPU has it) keeps 8 bits of mantissa: a generator's output in
    [-1, 1] moves by at most a few hundredths."""
    path, g = tiny_onnx
    feed = _feed(rng)
    with create_runner("ov-cpu", path, threads=1) as runner:
        out = runner.infer(feed)["frame"]
    assert np.abs(out - _reference(g, feed)).max() < 0.05


def test_bad_precision_feeds_and_dynamic_shapes_are_refused(tiny_onnx, tmp_path) -> None:
    path, _ = tiny_onnx
    with pytest.raises(InputError, match="precision"):
        create_runner("ov-cpu", path, precision="fp8")
    with create_runner("ov-cpu", path, threads=1) as runner:
        with pytest.raises(InputError, match="shape"):
            runner.infer({"label": np.zeros((1, 3, 32, 32), np.float32),
                          "previous": np.zeros((1, 3, 64, 64), np.float32)})
    g = Generator(get_preset("tiny").generator).eval()
    free = tmp_path / "free.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(g, (torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)),
                          str(free), dynamo=False, opset_version=17,
                          input_names=["label", "previous"], output_names=["frame"],
                          dynamic_axes={"label": {2: "h"}, "previous": {2: "h"},
                                        "frame": {2: "h"}})
    with pytest.raises(ValueError, match="dynamic shape"):
        create_runner("ov-cpu", free).__enter__()


def test_a_dynamic_batch_axis_takes_each_batch_size(tmp_path, rng) -> None:
    torch.manual_seed(1)
    g = Generator(get_preset("tiny").generator).eval()
    path = tmp_path / "batch.onnx"
    axes = {name: {0: "batch"} for name in ("label", "previous", "frame")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(g, (torch.zeros(2, 3, 64, 64), torch.zeros(2, 3, 64, 64)),
                          str(path), dynamo=False, opset_version=17,
                          input_names=["label", "previous"], output_names=["frame"],
                          dynamic_axes=axes)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"max_batch": "3"})  # as `dancenow export` records it
    onnx.save(model, str(path))
    with create_runner("ov-cpu", path, threads=1, precision="f32") as runner:
        assert runner.batch_sizes == (1, 2, 3)
        for batch in (3, 1):
            feed = _feed(rng, batch)
            out = runner.infer(feed)["frame"]
            assert out.shape == (batch, 3, 64, 64)
            assert np.abs(out - _reference(g, feed)).max() < 1e-4
        with pytest.raises(InputError, match="batches of 1 to 3"):
            runner.infer(_feed(rng, 4))
