"""Retargeting keypoints onto an actor's bones."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.keypoints import LM, missing_pose
from synth.appearance import get_actor
from synth.body import Proportions
from synth.reference import actor_keypoints
from synth.retarget import MID_HIP, TREE, _with_virtual, rest_bone_lengths, retarget


@pytest.fixture(scope="module")
def performer_kp() -> np.ndarray:
    return actor_keypoints("performer", 512, seconds=4, fps=10)


def _bones(kp: np.ndarray) -> np.ndarray:
    xy = _with_virtual(kp[..., :2])
    return np.stack([np.linalg.norm(xy[:, c] - xy[:, a], axis=1) for a, c in TREE], axis=1)


def test_root_trajectory_and_directions_are_kept(performer_kp) -> None:
    out, _ = retarget(performer_kp, get_actor("target"), fps=10)
    src, dst = _with_virtual(performer_kp[..., :2]), _with_virtual(out[..., :2])
    np.testing.assert_allclose(dst[:, MID_HIP], src[:, MID_HIP], atol=1e-3)
    for a, c in TREE[:10]:
        u = src[:, c] - src[:, a]
        v = dst[:, c] - dst[:, a]
        cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1) + 1e-9)
        assert cos.min() > 0.999


def test_bone_proportions_become_the_actors(performer_kp) -> None:
    target = get_actor("target")
    out, _ = retarget(performer_kp, target, fps=10)
    src_b, dst_b = _bones(performer_kp), _bones(out)
    # Longest (least foreshortened) hip relative to the torso: the actor's own ratio, which
    # differs from the performer's (wider hips, shorter torso).
    hip = TREE.index((MID_HIP, LM["left_hip"]))
    torso = TREE.index((MID_HIP, MID_HIP + 1))
    rest = rest_bone_lengths(target.body)
    src_rest = rest_bone_lengths(get_actor("performer").body)
    assert abs(rest[hip] / rest[torso] - src_rest[hip] / src_rest[torso]) > 0.03
    ratio = np.percentile(dst_b[:, hip] / dst_b[:, torso], 90)
    assert ratio == pytest.approx(rest[hip] / rest[torso], abs=0.006)
    thigh = TREE.index((LM["left_hip"], LM["left_knee"]))
    # Pixels per metre come from the source's torso taken as a reference-sized torso
    # (within a few percent: rest lengths are estimated from 90th percentiles).
    perf, tgt = get_actor("performer").body, target.body
    expected = (tgt.thigh / perf.thigh) * (perf.torso / Proportions().torso)
    assert np.median(dst_b[:, thigh] / src_b[:, thigh]) == pytest.approx(expected, rel=0.04)


def test_missing_frames_stay_missing(performer_kp) -> None:
    kp = performer_kp.copy()
    kp[3] = missing_pose()
    out, scale = retarget(kp, get_actor("target"), fps=10)
    assert np.isnan(out[3, :, :2]).all() and np.isfinite(scale).all()
    assert np.isfinite(out[4, :, :2]).all()


def test_nothing_to_retarget() -> None:
    with pytest.raises(InputError):
        retarget(np.stack([missing_pose()] * 4), get_actor("target"), fps=10)
    assert rest_bone_lengths(Proportions()).shape == (len(TREE),)
