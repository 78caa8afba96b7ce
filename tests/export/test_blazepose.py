"""Converting mediapipe's BlazePose models: the landmark model keeps only what the
engine reads, computes it exactly as the whole converted model does, and a cache from
an older conversion is converted again."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from engine.pose.blazepose import LANDMARK_FILE, LANDMARK_OUTPUTS
from export.blazepose import (
    CONVERSION,
    LANDMARK_OUTPUT_SHAPES,
    SOURCES,
    convert_pose_models,
    keep_landmark_outputs,
    mediapipe_root,
)
from export.errors import ExportError
from export.tflite_to_onnx import convert_tflite


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_the_landmark_model_keeps_its_used_outputs_with_the_same_values() -> None:
    full = convert_tflite(mediapipe_root() / SOURCES[LANDMARK_FILE])
    assert len(full.graph.output) == 5  # landmarks, flag, segmentation, heatmap, world
    cut = keep_landmark_outputs(full)
    assert [o.name for o in cut.graph.output] == list(LANDMARK_OUTPUTS)
    assert len(cut.graph.node) < len(full.graph.node)
    x = np.random.default_rng(0).random((1, 256, 256, 3), dtype=np.float32)
    name = full.graph.input[0].name
    everything = _session(full).run(None, {name: x})
    kept = dict(zip(LANDMARK_OUTPUTS, _session(cut).run(None, {name: x}), strict=True))
    by_shape = {a.shape: a for a in everything}
    for out in LANDMARK_OUTPUTS:
        assert kept[out].shape == LANDMARK_OUTPUT_SHAPES[out]
        np.testing.assert_array_equal(kept[out], by_shape[LANDMARK_OUTPUT_SHAPES[out]])


def test_a_model_without_the_expected_outputs_is_refused() -> None:
    full = convert_tflite(mediapipe_root() / SOURCES[LANDMARK_FILE])
    del full.graph.output[3]  # the heatmap
    with pytest.raises(ExportError, match="no heatmap output"):
        keep_landmark_outputs(full)


def test_models_of_an_older_conversion_are_converted_again(pose_models, tmp_path) -> None:
    manifest = json.loads((pose_models / "manifest.json").read_text())
    assert manifest["conversion"] == CONVERSION
    assert manifest["landmark_outputs"] == list(LANDMARK_OUTPUTS)
    folder = tmp_path / "models"
    convert_pose_models(folder)
    stamp = (folder / LANDMARK_FILE).stat().st_mtime_ns
    convert_pose_models(folder)  # up to date: nothing is written
    assert (folder / LANDMARK_FILE).stat().st_mtime_ns == stamp
    old = json.loads((folder / "manifest.json").read_text())
    del old["conversion"]
    (folder / "manifest.json").write_text(json.dumps(old))
    (folder / LANDMARK_FILE).write_bytes(b"stale")
    convert_pose_models(folder)
    assert [o.name for o in onnx.load(folder / LANDMARK_FILE).graph.output] == \
        list(LANDMARK_OUTPUTS)
