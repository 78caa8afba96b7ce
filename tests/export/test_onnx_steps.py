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
