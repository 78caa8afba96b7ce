"""One-euro filter and the offline median smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.filters import OneEuroFilter, PoseFilter, median_smooth
from engine.keypoints import missing_pose


def test_one_euro_removes_jitter_on_a_still_point(rng) -> None:
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    noisy = 100.0 + rng.normal(0, 2.0, 300)
    out = np.array([f(np.array([v]), i / 30)[0] for i, v in enumerate(noisy)])
    assert np.std(out[30:]) < 0.35 * np.std(noisy[30:])
    assert abs(out[30:].mean() - 100.0) < 0.5


def test_one_euro_follows_fast_motion_with_beta() -> None:
    ramp = np.arange(120) * 10.0  # 300 px/s at 30 fps
    lag = {}
    for beta in (0.0, 0.1):
        f = OneEuroFilter(min_cutoff=1.0, beta=beta)
        out = np.array([f(np.array([v]), i / 30)[0] for i, v in enumerate(ramp)])
        lag[beta] = np.mean(ramp[60:] - out[60:])
    assert lag[0.1] < 0.3 * lag[0.0]
    assert lag[0.1] < 10.0


def test_one_euro_restarts_after_a_gap() -> None:
    f = OneEuroFilter(min_cutoff=0.5, beta=0.0)
    for i in range(30):
        f(np.array([0.0, 0.0]), i / 30)
    out = f(np.array([np.nan, 5.0]), 1.0)
    assert np.isnan(out[0]) and 0 < out[1] < 5.0
    back = f(np.array([200.0, 5.0]), 1.0 + 1 / 30)
    assert back[0] == 200.0  # restarted, not dragged toward the stale 0


def test_one_euro_restarts_after_long_silence() -> None:
    f = OneEuroFilter(min_cutoff=0.5, beta=0.0, max_gap=0.5)
    f(np.array([0.0]), 0.0)
    assert f(np.array([50.0]), 2.0)[0] == 50.0


def test_one_euro_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0.0)


def test_pose_filter_keeps_missing_frames_missing(rng) -> None:
    pf = PoseFilter()
    pose = rng.uniform(0, 100, (33, 3)).astype(np.float32)
    pf(pose, 0.0)
    out = pf(missing_pose(), 1 / 30)
    assert np.isnan(out[:, :2]).all() and (out[:, 2] == 0).all()
    again = pf(pose + 50, 1.0)
    np.testing.assert_allclose(again[:, :2], pose[:, :2] + 50)  # fresh start after the gap


def test_median_smooth_removes_spikes_and_invents_nothing(rng) -> None:
    kp = np.tile(np.linspace(0, 1, 40)[:, None, None] * 100, (1, 33, 3)).astype(np.float32)
    kp[..., 2] = 1.0
    kp[10, 5, 0] += 80  # a one-frame glitch
    kp[20] = missing_pose()
    out = median_smooth(kp, 5)
    assert abs(out[10, 5, 0] - kp[10, 6, 0]) < 5
    assert np.isnan(out[20, :, :2]).all() and (out[20, :, 2] == 0).all()
    assert np.isfinite(out[19]).all() and np.isfinite(out[21]).all()
    np.testing.assert_allclose(out[30, :, 0], kp[30, :, 0], atol=1e-4)  # linear stays
    with pytest.raises(ValueError):
        median_smooth(kp, 4)
