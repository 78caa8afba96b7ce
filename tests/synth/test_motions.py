"""The procedural motions: smooth, in frame, varied, and moving in depth."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.keypoints import LIMB_JOINTS, LM
from synth.appearance import ACTORS
from synth.body import Camera
from synth.clip import pose_at
from synth.motions import MOTIONS, Tempo, get_motion


def _track(actor: str, motion: str, seconds: float = 8.0, fps: float = 30.0,
           seed: int = 0) -> np.ndarray:
    cam = Camera.for_size(512, 512)
    tempo = Tempo.from_seed(seed)
    return np.stack([pose_at(ACTORS[actor], cam, motion, tempo, i / fps)[0]
                     for i in range(int(seconds * fps))])


def test_at_least_six_motions() -> None:
    assert len(MOTIONS) >= 6
    with pytest.raises(InputError, match="unknown motion"):
        get_motion("moonwalk")


@pytest.mark.parametrize("motion", list(MOTIONS))
@pytest.mark.parametrize("actor", list(ACTORS))
def test_motion_is_smooth_and_stays_in_frame(actor, motion) -> None:
    kp = _track(actor, motion)
    speed = np.linalg.norm(np.diff(kp[:, LIMB_JOINTS, :2], axis=0), axis=2)
    assert speed.max() < 40, "a joint jumps more than 40 px between frames at 30 fps"
    assert kp[..., :2].min() > 0 and kp[..., :2].max() < 512
    assert (kp[..., 2] == 1).all()
    # Every motion moves: some limb joint travels over 20 px during the clip.
    assert np.ptp(kp[:, LIMB_JOINTS, :2], axis=0).max() > 20


def test_motions_differ_from_each_other() -> None:
    tracks = {m: _track("target", m, seconds=4) for m in MOTIONS}
    names = list(tracks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(tracks[a] - tracks[b]).mean() > 3, (a, b)


def test_approach_moves_toward_and_away_from_the_camera() -> None:
    kp = _track("target", "approach", seconds=8)
    ankle = kp[:, [LM["left_ankle"], LM["right_ankle"]], 1].max(axis=1)
    height = ankle - kp[:, LM["nose"], 1]
    assert np.ptp(ankle) > 60  # feet travel up and down the image
    assert height.max() > 1.3 * height.min()  # and the body grows and shrinks


def test_seed_varies_the_dance_reproducibly() -> None:
    a, b = _track("target", "dance", 3, seed=1), _track("target", "dance", 3, seed=2)
    np.testing.assert_array_equal(a, _track("target", "dance", 3, seed=1))
    assert np.abs(a - b).mean() > 2
