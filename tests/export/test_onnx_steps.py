"""The composable export steps on their own."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from export.errors import ExportError
from export.onnx_steps import (
    ExportedModel,
    checked,
    onnx_from_checkpoint,
    reference_modules,
    saved,
    simplified,
)
from train.evaluate import load_run


def test_steps_compose_and_record_themselves(tiny_run, tmp_path) -> None:
    modules = reference_modules(load_run(tiny_run))
    model = onnx_from_checkpoint(tiny_run, "face", "fp32", 17, modules)
    assert model.input_names == ["label_crop", "image_crop"]
    assert model.output_names == ["residual"]
    done = saved(checked(simplified(model)), tmp_path)
    assert done.steps == ("onnx", "simplified", "checked", "saved")
    assert done.path == tmp_path / "face.onnx"
    onnx.checker.check_model(onnx.load(str(done.path)))
    assert len(done.onnx.graph.node) <= len(model.onnx.graph.node)


def test_checked_rejects_a_dynamic_shape() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = ExportedModel("generator", proto, None, (), "fp32", 17)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="no fixed shape"):
        checked(model)


def test_bad_precision_opset_and_missing_model(tiny_run) -> None:
    from engine.errors import InputError

    with pytest.raises(InputError, match="precision"):
        onnx_from_checkpoint(tiny_run, "generator", "int8")
    with pytest.raises(InputError, match="opset"):
        onnx_from_checkpoint(tiny_run, "generator", "fp32", 9)
    with pytest.raises(InputError, match="no discriminator model"):
        onnx_from_checkpoint(tiny_run, "discriminator")


def test_a_dynamic_batch_export_takes_batches_on_every_runner(tmp_path) -> None:
    import numpy as np
    import torch

    from engine.runners import create_runner
    from export.onnx_steps import _TemporalGenerator, shapes
    from export.torch_program import saved_program
    from train.models import Generator
    from train.presets import get_preset

    cfg = get_preset("tiny").generator
    torch.manual_seed(0)
    r = cfg.resolution
    example = (torch.zeros(1, 3, r, r), torch.zeros(1, 3, r, r))
    modules = {"generator": (_TemporalGenerator(Generator(cfg).eval()).eval(), example)}
    model = saved(checked(simplified(onnx_from_checkpoint("", "generator", "fp32", 17, modules,
                                                          max_batch=4))), tmp_path)
    assert model.max_batch == 4
    assert shapes(model)[0]["label"] == [1, 3, r, r]  # one frame's shape for the manifest
    assert {p.key: p.value for p in model.onnx.metadata_props}["max_batch"] == "4"
    rng = np.random.default_rng(0)
    feed = {n: rng.uniform(-1, 1, (3, 3, r, r)).astype(np.float32)
            for n in ("label", "previous")}
    for backend, path in (("ort-cpu", model.path), ("torch", saved_program(model, tmp_path))):
        with create_runner(backend, path) as runner:
            assert runner.batch_sizes == (1, 2, 3, 4), backend
            batched = runner.infer(feed)["frame"].copy()
            for i in range(3):
                alone = runner.infer({n: a[i:i + 1] for n, a in feed.items()})["frame"]
                np.testing.assert_allclose(batched[i:i + 1], alone, atol=1e-5)


def test_checked_wants_the_batch_axis_it_was_asked_for() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = ExportedModel("generator", proto, None, (), "fp32", 17,  # type: ignore[arg-type]
                          max_batch=4)
    with pytest.raises(ExportError, match="no dynamic batch axis"):
        checked(model)
