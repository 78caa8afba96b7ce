"""Avatar bundles load with clear errors for everything that can be wrong."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.avatar import is_bundle, load_bundle
from engine.errors import InputError


@pytest.fixture()
def bundle_copy(tiny_bundles, tmp_path):  # noqa: ANN201
    copy = tmp_path / "avatar"
    shutil.copytree(tiny_bundles["fp32"], copy)
    return copy


def _edit(root, **changes) -> None:  # noqa: ANN001
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_a_good_bundle(bundle_copy) -> None:
    bundle = load_bundle(bundle_copy, verify=True)
    assert is_bundle(bundle_copy) and bundle.name == "fp32"
    assert bundle.normalization.close >= bundle.normalization.far
    assert bundle.model_path("generator").name == "generator.onnx"
    assert bundle.model_path("face", "torch").suffix == ".pt2"


@pytest.mark.parametrize(("change", "message"), [
    ({"format": "something-else"}, "not an avatar manifest"),
    ({"version": 99}, "version 99"),
    ({"models": {}}, "no generator"),
    ({"normalization": {"far": 1.0}}, "normalization"),
])
def test_malformed_manifests(bundle_copy, change, message) -> None:
    _edit(bundle_copy, **change)
    with pytest.raises(InputError, match=message):
        load_bundle(bundle_copy)


def test_missing_pieces(bundle_copy, tmp_path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        load_bundle(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no manifest.json"):
        load_bundle(tmp_path)
    (bundle_copy / "face.onnx").unlink()
    with pytest.raises(InputError, match="face.onnx is missing"):
        load_bundle(bundle_copy)
    (bundle_copy / "manifest.json").write_text("{not json")
    assert not is_bundle(bundle_copy)
    with pytest.raises(InputError, match="not valid JSON"):
        load_bundle(bundle_copy)


def test_the_two_committed_demo_avatars_are_one_target_at_two_speeds() -> None:
    from engine.avatar import DEMO_AVATAR, DEMO_LIVE_AVATAR

    demo, live = load_bundle(DEMO_AVATAR, verify=True), load_bundle(DEMO_LIVE_AVATAR,
                                                                     verify=True)
    assert (demo.name, demo.manifest["preset"], live.name, live.manifest["preset"]) == (
        "demo", "cpu-rt", "demo-live", "cpu-live")
    assert live.resolution == demo.resolution and live.precision == "fp16"
    assert live.normalization == demo.normalization  # the same person, framed the same
    g_demo, g_live = demo.manifest["generator_config"], live.manifest["generator_config"]
    assert g_live["n_blocks"] < g_demo["n_blocks"]
    assert {**g_live, "n_blocks": g_demo["n_blocks"]} == g_demo  # thinned, nothing else
    for bundle in (demo, live):  # held-out quality travels with the bundle
        metrics = bundle.manifest["metrics"]["heldout_metrics"]
        assert metrics["redetect_rate"] >= 0.95 and metrics["pose_distance"] <= 0.02
