"""Shared fixtures: short synthetic clips rendered once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.keypoints import KeypointTrack
from train.synth.clip import ClipSpec, synth_clip


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
