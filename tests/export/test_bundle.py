"""Export: bundles from a tiny run, parity against torch, nothing left behind on failure."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.avatar import file_sha256, load_bundle
from engine.errors import InputError
from export import parity
from export.bundle import ExportOptions, export_avatar
from export.errors import ExportError
from export.onnx_steps import reference_modules
from train.data import PreparedData
from train.evaluate import load_run


def test_bundles_hold_both_models_with_parity_within_tolerance(tiny_bundles, tiny_data) -> None:
    for precision, root in tiny_bundles.items():
        bundle = load_bundle(root, verify=True)
        assert bundle.precision == precision and bundle.resolution == 64
        assert set(bundle.models) == {"generator", "face"}
        gen = bundle.models["generator"]
        assert gen.inputs == {"label": (1, 3, 64, 64), "previous": (1, 3, 64, 64)}
        assert gen.outputs == {"frame": (1, 3, 64, 64)}
        assert bundle.face_crop == 16 and bundle.temporal
        manifest = bundle.manifest
        for name, entry in manifest["models"].items():
            assert entry["steps"] == ["onnx", "simplified", "checked", "saved"], name
            for p in entry["parity"]:
                assert p["max_abs_error"] <= parity.TOLERANCE[precision]
                assert p["samples"] >= 1
        stats = json.loads((tiny_data / "manifest.json").read_text())["normalization"]
        assert manifest["normalization"] == stats
        assert manifest["source"]["stage"] == "face"
        assert set(manifest["training"]) == {"temporal", "face"}


def test_onnx_output_matches_torch_on_a_real_frame(tiny_bundles, tiny_run, tiny_data) -> None:
    """Independent of the export's own check: run the saved file and the checkpoint."""
    data = PreparedData(tiny_data)
    label = torch.from_numpy(np.array(data.labels[3:4])).permute(0, 3, 1, 2).float()
    label = label / 127.5 - 1
    previous = torch.rand(1, 3, 64, 64) * 2 - 1
    module, _ = reference_modules(load_run(tiny_run))["generator"]
    with torch.no_grad():
        expected = module(label, previous).numpy()
    for precision, tol in (("fp32", 1e-3), ("fp16", 1e-2)):
        session = ort.InferenceSession(str(tiny_bundles[precision] / "generator.onnx"),
                                       providers=["CPUExecutionProvider"])
        got = session.run(None, {"label": label.numpy(), "previous": previous.numpy()})[0]
        assert got.dtype == np.float32
        assert np.abs(got - expected).max() <= tol, precision
    fp16_size = (tiny_bundles["fp16"] / "generator.onnx").stat().st_size
    assert fp16_size < 0.7 * (tiny_bundles["fp32"] / "generator.onnx").stat().st_size


def test_a_failed_parity_check_names_the_output_and_writes_nothing(tiny_run, tmp_path,
                                                                  monkeypatch) -> None:
    monkeypatch.setitem(parity.TOLERANCE, "fp32", 0.0)
    out = tmp_path / "avatar"
    with pytest.raises(ExportError, match="generator output 'frame'"):
        export_avatar(tiny_run, out, ExportOptions(torch_programs=False))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_bundle_needs_force(tiny_run, tmp_path) -> None:
    out = tmp_path / "avatar"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="--force"):
        export_avatar(tiny_run, out, ExportOptions(torch_programs=False))
    assert (out / "keep.txt").read_text() == "mine"
    bundle = export_avatar(tiny_run, out, ExportOptions(torch_programs=False, force=True))
    assert not (out / "keep.txt").exists() and bundle.models["generator"].torch_file is None


def test_export_needs_the_run_data_and_a_checkpoint(tiny_run, tmp_path) -> None:
    with pytest.raises(InputError, match="no checkpoint"):
        export_avatar(tmp_path, tmp_path / "a")
    with pytest.raises(InputError):
        export_avatar(tiny_run, tmp_path / "b", ExportOptions(data=str(tmp_path / "nowhere")))
    assert not (tmp_path / "b").exists()


def test_bundle_checksum_catches_a_replaced_file(tiny_bundles, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundles["fp32"], copy)
    assert file_sha256(copy / "face.onnx") == load_bundle(copy).models["face"].sha256
    (copy / "face.onnx").write_bytes((tiny_bundles["fp16"] / "face.onnx").read_bytes())
    load_bundle(copy)  # a plain load trusts the files
    with pytest.raises(InputError, match="checksum"):
        load_bundle(copy, verify=True)
