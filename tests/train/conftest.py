"""Fixtures for the training tests: a small prepared data folder (64x64, tiny preset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.data import PrepareOptions, prepare
from train.synth.clip import ClipSpec, synth_clip


@pytest.fixture(scope="session")
def target_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("target") / "target.mp4"
    synth_clip(ClipSpec(actor="target", motion="dance", seconds=4.0, size=256, fps=15, seed=5),
               out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, target_video: Path) -> Path:
    out = tmp_path_factory.mktemp("data") / "tiny"
    prepare([target_video], out, PrepareOptions(size=64, min_person_frames=10), progress=False)
    return out


@pytest.fixture(scope="session")
def data_256(tmp_path_factory: pytest.TempPathFactory, target_video: Path) -> Path:
    """The same clip prepared at 256x256, where BlazePose can re-detect the person."""
    out = tmp_path_factory.mktemp("data") / "d256"
    prepare([target_video], out, PrepareOptions(size=256, min_person_frames=10), progress=False)
    return out
