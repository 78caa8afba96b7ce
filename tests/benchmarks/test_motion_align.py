"""The motion lag measurement on motions whose lag and mapping are known."""

from __future__ import annotations

import numpy as np

from benchmarks.motion_align import (
    Mapping,
    TrueMotion,
    consecutive,
    joint_acceleration,
    measure,
    true_height,
)
from benchmarks.motion_lag import block_masks
from engine.keypoints import LIMB_JOINTS, LM

FPS = 30.0


def _truth(frames: int = 300, seed: int = 0) -> np.ndarray:
    """[F, 33, 3] poses: a standing body whose limb joints swing at 0.5-1.5 Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / FPS
    base = rng.uniform(100, 300, size=(33, 2))
    base[LM["nose"]] = (200, 80)
    base[LM["left_ankle"]], base[LM["right_ankle"]] = (180, 400), (220, 400)
    poses = np.repeat(base[None], frames, axis=0)
    for j in LIMB_JOINTS:
        if j in (LM["left_ankle"], LM["right_ankle"]):
            continue
        freq, phase = rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi)
        poses[:, j, 0] += 40 * np.sin(2 * np.pi * freq * t + phase)
        poses[:, j, 1] += 25 * np.cos(2 * np.pi * freq * t + phase)
    return np.concatenate([poses, np.ones((frames, 33, 1))], axis=-1).astype(np.float32)


def _run(lag_s: float, noise: float = 0.0, seed: int = 0):
    truth = _truth(seed=seed)
    sent = np.arange(len(truth)) / FPS + 100.0  # perf_counter-like times
    motion = TrueMotion.from_timeline(sent, np.arange(len(truth)), truth)
    arrivals = sent[30:-30] + 0.12  # each frame arrives 120 ms after it was sent
    mapping = Mapping(0.5, np.array([10.0, -20.0]))
    shown = mapping(motion.at(arrivals - lag_s))
    shown += np.random.default_rng(seed).normal(0, noise, shown.shape)
    return motion, true_height(truth), arrivals, shown, mapping


def test_the_lag_found_is_the_lag_the_avatar_has() -> None:
    for lag in (0.0, 0.05, 0.125):
        motion, height, arrivals, shown, _ = _run(lag, noise=0.5)
        groups = {"off": np.ones(len(arrivals), bool)}
        result = measure(motion, height, arrivals, shown, groups)
        assert abs(result["off"]["lag_ms"] - lag * 1e3) < 6, result["off"]


def test_the_mapping_is_recovered_and_errors_are_in_body_heights() -> None:
    motion, height, arrivals, shown, mapping = _run(0.1)
    fitted = Mapping.fit(motion.at(arrivals - 0.1), shown)
    assert abs(fitted.scale - mapping.scale) < 1e-6
    assert np.allclose(fitted.shift, mapping.shift, atol=1e-4)
    groups = {"off": np.ones(len(arrivals), bool)}
    result = measure(motion, height, arrivals, shown, groups)
    assert result["mapping"]["avatar_height_px"] == round(height * 0.5, 1)
    # trailing by 100 ms costs error at display time; aligned, almost none is left
    assert result["off"]["error_p50"] > 0.01
    assert result["off"]["error_at_lag"] < 1e-3


def test_a_group_with_less_lag_has_less_error_at_display_time() -> None:
    motion, height, arrivals, late, _ = _run(0.12, noise=0.3)
    _, _, _, early, _ = _run(0.02, noise=0.3)
    half = np.arange(len(arrivals)) % 60 < 30  # alternate blocks of one second
    shown = np.where(half[:, None, None], late, early)
    result = measure(motion, height, arrivals, shown, {"off": half, "auto": ~half})
    assert abs(result["off"]["lag_ms"] - 120) < 8
    assert abs(result["auto"]["lag_ms"] - 20) < 8
    assert result["auto"]["error_p50"] < 0.5 * result["off"]["error_p50"]


def test_frames_not_found_again_are_left_out() -> None:
    motion, height, arrivals, shown, _ = _run(0.08, noise=0.3)
    shown[::4] = np.nan
    result = measure(motion, height, arrivals, shown, {"off": np.ones(len(arrivals), bool)})
    assert result["off"]["found"] == 0.75
    assert abs(result["off"]["lag_ms"] - 80) < 8


def test_acceleration_skips_frames_around_a_gap() -> None:
    arrivals = np.array([0.0, 0.033, 0.066, 0.1, 0.5, 0.533, 0.566])
    ok = consecutive(arrivals)
    assert ok.tolist() == [False, True, True, False, False, True, False]
    poses = np.zeros((7, 12, 2))
    poses[:, :, 0] = np.arange(7)[:, None] ** 2  # constant acceleration of 2 px per frame
    acc = joint_acceleration(poses, arrivals, height=100.0)
    assert np.allclose(acc[ok], 0.02)
    assert np.isnan(acc[~ok]).all()


def test_blocks_leave_out_their_first_seconds() -> None:
    arrivals = np.arange(0, 10, 0.5)
    masks = block_masks(arrivals, [(0, 5, "off"), (5, 10, "auto")], settle=1.0)
    assert arrivals[masks["off"]].min() == 1.0 and arrivals[masks["off"]].max() == 5.0
    assert arrivals[masks["auto"]].min() == 6.0
    assert not (masks["off"] & masks["auto"]).any()
