"""Shared fixtures, built once per session: short synthetic clips, small prepared data
folders, a tiny trained run (temporal + face) and its avatar bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.keypoints import KeypointTrack
from synth.clip import ClipSpec, synth_clip
from train.data import PrepareOptions, prepare


@pytest.fixture(scope="session")
def performer_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeypointTrack]:
    """Two seconds of the performer dancing at 256x256, with its ground truth."""
    out = tmp_path_factory.mktemp("clips") / "performer.mp4"
    track = synth_clip(ClipSpec(actor="performer", motion="dance", seconds=2.0, size=256,
                                fps=15, seed=3), out, progress=False)
    return out, track


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def target_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("target") / "target.mp4"
    synth_clip(ClipSpec(actor="target", motion="dance", seconds=4.0, size=256, fps=15, seed=5),
               out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, target_video: Path) -> Path:
    """The target clip prepared at 64x64 (the `tiny` preset's size)."""
    out = tmp_path_factory.mktemp("data") / "tiny"
    prepare([target_video], out, PrepareOptions(size=64, min_person_frames=10), progress=False)
    return out


@pytest.fixture(scope="session")
def data_256(tmp_path_factory: pytest.TempPathFactory, target_video: Path) -> Path:
    """The same clip prepared at 256x256, where BlazePose can re-detect the person."""
    out = tmp_path_factory.mktemp("data") / "d256"
    prepare([target_video], out, PrepareOptions(size=256, min_person_frames=10), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """A `tiny` run trained a few steps: temporal stage, then the face stage."""
    from train.trainer import TrainConfig, Trainer

    run = tmp_path_factory.mktemp("runs") / "tiny"
    for stage, iters in (("temporal", 6), ("face", 3)):
        Trainer(tiny_data, run, TrainConfig(preset="tiny", stage=stage, iters=iters, batch=1),
                progress=False).run()
    return run


@pytest.fixture(scope="session")
def tiny_bundles(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> dict[str, Path]:
    """`tiny_run` exported as fp32 and fp16 avatar bundles."""
    from export.bundle import ExportOptions, export_avatar

    root = tmp_path_factory.mktemp("avatars")
    return {p: export_avatar(tiny_run, root / p, ExportOptions(precision=p)).root
            for p in ("fp32", "fp16")}


@pytest.fixture(scope="session")
def pose_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BlazePose converted to ONNX (export.blazepose), once per test session."""
    from export.blazepose import convert_pose_models

    folder = tmp_path_factory.mktemp("pose-models")
    convert_pose_models(folder)
    return folder
