"""Framing: desk views, zooms, people at the edge, nobody, and whole bodies unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from engine.framing import Framing
from engine.keypoints import LM, drop_unseen, missing_pose
from engine.normalize import OnlineNormalizer
from synth.appearance import get_actor
from synth.body import Camera
from synth.clip import pose_at
from synth.motions import Tempo
from synth.reference import target_stats

SIZE = 256
TARGET = target_stats(SIZE)
FPS = 30.0
ARMS = [LM[f"{s}_{p}"] for s in ("left", "right") for p in ("shoulder", "elbow", "wrist")]
HIPS_ANKLES = [LM[n] for n in ("left_hip", "right_hip", "left_ankle", "right_ankle")]


def _motion(motion: str, seconds: float, seed: int) -> np.ndarray:
    """Ground truth of the performer (another body) in a 512 px square, 30 fps."""
    app, cam, tempo = get_actor("performer"), Camera.for_size(512, 512), Tempo.from_seed(seed)
    return np.stack([pose_at(app, cam, motion, tempo, i / FPS)[0]
                     for i in range(int(seconds * FPS))])


@pytest.fixture(scope="module")
def performer() -> np.ndarray:
    return np.concatenate([_motion(m, 3.0, seed) for seed, m in
                           enumerate(("wave", "dance", "idle", "kick"))])


def _framing() -> Framing:
    return Framing(TARGET, SIZE, OnlineNormalizer(TARGET, calibration_frames=30))


def _view(kp: np.ndarray, zoom: float, centre_y: float, width: int, height: int) -> np.ndarray:
    """The 512 px picture seen by a camera of `width` x `height` zoomed about `centre_y`,
    mapped into the avatar's square as the live step does (frame height -> SIZE)."""
    f = height / 512.0 * zoom
    v = kp.copy()
    v[:, 0] = (kp[:, 0] - 256.0) * f + width / 2
    v[:, 1] = (kp[:, 1] - centre_y) * f + height / 2
    v = drop_unseen(v, (width, height))
    s = SIZE / height
    v[:, 0] = v[:, 0] * s + (SIZE - width * s) / 2
    v[:, 1] *= s
    return v


def _arm_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """Mean distance after the best scale + translation from src's arms onto dst's."""
    x, y = src[ARMS, :2].astype(float), dst[ARMS, :2].astype(float)
    xc, yc = x - x.mean(0), y - y.mean(0)
    s = (xc * yc).sum() / (xc * xc).sum()
    return float(np.linalg.norm(yc - s * xc, axis=1).mean())


def test_a_desk_view_stands_on_neutral_legs_at_the_targets_floor(performer) -> None:
    framing = _framing()
    out, modes = [], []
    for i, kp in enumerate(performer):
        r = framing(_view(kp, 2.2, 150.0, 640, 360), i / FPS)
        out.append(r.pose)
        modes.append(r.mode)
    assert set(modes) == {"upper"}
    poses = np.stack(out)
    for side in ("left", "right"):
        ankle, knee, hip = (poses[:, LM[f"{side}_{p}"], 1] for p in ("ankle", "knee", "hip"))
        assert (ankle > knee).all() and (knee > hip).all()
        np.testing.assert_allclose(ankle, TARGET.median, atol=0.01 * SIZE)
    torso = np.linalg.norm(poses[:, [11, 12], :2].mean(1) - poses[:, [23, 24], :2].mean(1),
                           axis=1)
    height = TARGET.median - poses[:, LM["nose"], 1]
    assert np.median(torso / height) == pytest.approx(TARGET.torso_ratio(), rel=0.15)
    residuals = [_arm_residual(kp, p) / SIZE for kp, p in zip(performer, poses, strict=True)]
    assert np.median(residuals) < 0.01  # the arms are the performer's, scaled and moved
    assert (poses[:, :, :2] >= 0).all() and (poses[:, :, :2] <= SIZE).all()


def test_a_zoom_in_and_out_never_makes_hips_or_ankles_jump() -> None:
    kp = _motion("dance", 7.0, seed=5)
    framing = _framing()
    out, modes = [], []
    for i, pose in enumerate(kp):
        t = i / FPS
        z = float(np.clip(min(t - 1.5, 5.5 - t) / 1.5, 0, 1))  # whole -> desk -> whole
        z = z * z * (3 - 2 * z)
        r = framing(_view(pose, 1.0 + 1.3 * z, 256 * (1 - z) + 150 * z, 640, 360), t)
        out.append(r.pose)
        modes.append(r.mode)
    assert "full" in modes and "upper" in modes
    assert modes[0] == "full" and modes[-1] == "full"
    steps = np.abs(np.diff(np.stack(out)[:, HIPS_ANKLES, :2], axis=0)).max(axis=(1, 2))
    assert steps.max() / SIZE <= 0.03


def test_the_avatar_stays_inside_its_frame_when_the_performer_is_at_the_edge(
        performer) -> None:
    framing = _framing()
    for i, kp in enumerate(performer[:60]):
        side = kp.copy()
        side[:, 0] = side[:, 0] * 0.6 + 900.0  # far right of a 1920 x 1080 room, smaller
        side[:, 1] = side[:, 1] * 0.6 + 500.0
        pose = drop_unseen(side, (1920, 1080))
        pose[:, :2] *= SIZE / 1080
        pose[:, 0] += (SIZE - 1920 * SIZE / 1080) / 2
        shown = framing(pose, i / FPS).pose
    assert (shown[:, :2] >= 0).all() and (shown[:, :2] <= SIZE).all()


def test_whole_bodies_are_placed_exactly_as_the_papers_normalization(performer) -> None:
    framing, reference = _framing(), OnlineNormalizer(TARGET, calibration_frames=30)
    for i, kp in enumerate(performer[:90]):
        pose = _view(kp, 1.0, 256.0, 512, 512)
        shown = framing(pose, i / FPS)
        expected = reference(pose)
        assert shown.mode == "full"
        inside = (expected[:, :2] > 0.03 * SIZE).all() and (expected[:, :2] < 0.97 * SIZE).all()
        if inside:
            np.testing.assert_allclose(shown.pose[:, :2], expected[:, :2], atol=1e-3)


def test_nobody_in_view_holds_then_stands_neutral(performer) -> None:
    framing = _framing()
    for i, kp in enumerate(performer[:30]):
        framing(_view(kp, 1.0, 256.0, 512, 512), i / FPS)
    last = framing(_view(performer[30], 1.0, 256.0, 512, 512), 1.0).pose
    gone = [framing(missing_pose(), 1.0 + k / FPS) for k in range(1, 70)]
    assert all(g.mode == "none" and g.held for g in gone)
    np.testing.assert_array_equal(gone[5].pose, last)
    np.testing.assert_allclose(gone[-1].pose[:, :2], framing.neutral[:, :2], atol=1e-3)
    back = framing(_view(performer[31], 1.0, 256.0, 512, 512), 1.0 + 70 / FPS)
    assert back.restart and back.mode == "full"
