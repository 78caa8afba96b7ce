"""Global pose normalization: closed-form cases, offline and online."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.keypoints import LM, missing_pose
from engine.normalize import (
    NormalizationStats,
    OfflineNormalizer,
    OnlineNormalizer,
    compute_stats,
    frame_measures,
    transform_for,
)
from synth.reference import actor_keypoints

ANKLES = [LM["left_ankle"], LM["right_ankle"]]


@pytest.fixture(scope="module")
def target_kp() -> np.ndarray:
    """The target actor moving through every motion, toward and away from the camera."""
    return actor_keypoints("target", 512, seconds=8.0, fps=10.0)


def _affine(kp: np.ndarray, k: float, bx: float, by: float) -> np.ndarray:
    out = kp.copy()
    out[..., 0] = k * kp[..., 0] + bx
    out[..., 1] = k * kp[..., 1] + by
    return out


def test_stats_describe_depth_motion(target_kp) -> None:
    st = compute_stats(target_kp)
    assert st.far < st.median < st.close  # far is higher in the image
    assert st.height_close > st.height_far  # nearer is taller
    ankle_y, height, _ = frame_measures(target_kp)
    assert st.close == pytest.approx(np.nanmax(ankle_y))
    # Near the camera the body is taller than anywhere far away.
    far_frames = np.abs(ankle_y - st.far) <= 0.05 * (st.close - st.far)
    assert st.height_far == pytest.approx(np.nanmax(height[far_frames]))
    assert st.height_close > 1.2 * st.height_far


@pytest.mark.parametrize("k,bx,by", [(0.6, 30.0, -20.0), (1.0, 0.0, 45.0), (1.7, -80.0, -150.0)])
def test_scaled_and_shifted_source_maps_back_onto_target(target_kp, k, bx, by) -> None:
    source = _affine(target_kp, k, bx, by)
    src, tgt = compute_stats(source), compute_stats(target_kp)
    assert src.height_close == pytest.approx(k * tgt.height_close, rel=1e-5)
    out = OfflineNormalizer(src, tgt)(source)
    # Ankles land on the target's ankles and every joint on the target's joint.
    np.testing.assert_allclose(out[:, ANKLES, :2], target_kp[:, ANKLES, :2], atol=1e-2)
    np.testing.assert_allclose(out[..., :2], target_kp[..., :2], atol=1e-2)
    np.testing.assert_array_equal(out[..., 2], target_kp[..., 2])


def test_uniform_framing_change_gives_one_scale(target_kp) -> None:
    """A source filmed at half size: every frame is scaled by exactly 2."""
    source = _affine(target_kp, 0.5, 100.0, 60.0)
    norm = OfflineNormalizer(compute_stats(source), compute_stats(target_kp))
    trs = [t for t in norm.transforms(source) if t is not None]
    assert all(t.scale == pytest.approx(2.0, rel=1e-4) for t in trs)


def test_translation_and_scale_interpolate_between_far_and_close() -> None:
    src = NormalizationStats(far=100, close=200, median=150, height_far=50, height_close=100,
                             center_x=50, frames=10)
    tgt = NormalizationStats(far=300, close=500, median=400, height_far=150, height_close=400,
                             center_x=250, frames=10)
    for y, p in ((100.0, 0.0), (200.0, 1.0), (150.0, 0.5), (125.0, 0.25)):
        tr = transform_for(y, src, tgt)
        assert tr.dst_y == pytest.approx(300 + p * 200)
        assert tr.scale == pytest.approx(3.0 + p * (4.0 - 3.0))
        assert (tr.src_x, tr.dst_x) == (50, 250)
    pose = np.zeros((33, 3), np.float32)
    pose[:, 1] = 150.0 - 10.0  # 10 px above the ankle row at p = 0.5
    pose[:, 0] = 60.0
    out = transform_for(150.0, src, tgt).apply(pose)
    assert out[0, 1] == pytest.approx(400 - 3.5 * 10) and out[0, 0] == pytest.approx(250 + 35)


def test_identity_when_source_is_target(target_kp) -> None:
    st = compute_stats(target_kp)
    np.testing.assert_allclose(OfflineNormalizer(st, st)(target_kp)[..., :2],
                               target_kp[..., :2], atol=1e-3)


def test_frames_without_ankles_reuse_the_last_transform(target_kp) -> None:
    source = _affine(target_kp, 0.8, 10.0, 5.0)
    source[5, ANKLES, :2] = np.nan
    source[6] = missing_pose()
    out = OfflineNormalizer(compute_stats(source), compute_stats(target_kp))(source)
    assert np.isfinite(out[5, LM["nose"], :2]).all()
    assert np.isnan(out[6, :, :2]).all()


def test_online_matches_offline_once_the_range_is_known(target_kp) -> None:
    source = _affine(target_kp, 1.3, 20.0, -40.0)
    tgt = compute_stats(target_kp)
    online = OnlineNormalizer(tgt, calibration_frames=30, history_frames=len(source),
                              update_every=10)
    first = np.stack([online(p) for p in source])
    assert online.calibrated
    second = np.stack([online(p) for p in source])  # statistics now cover the whole range
    # Once an update over the whole range has blended in, the mapping is the offline one.
    settled = online.update_every + online.blend_frames
    np.testing.assert_allclose(second[settled:, :, :2], target_kp[settled:, :, :2], atol=0.05)
    # While calibrating, poses are already normalized roughly (right size class).
    assert np.isfinite(first).all()


def test_online_reset_starts_a_new_calibration(target_kp) -> None:
    tgt = compute_stats(target_kp)
    online = OnlineNormalizer(tgt, calibration_frames=20)
    for p in _affine(target_kp, 2.0, 0.0, -300.0)[:40]:
        online(p)
    assert online.calibrated
    online.reset()
    assert not online.calibrated and online.source is None
    # A different performer after the reset is measured on its own.
    out = online(_affine(target_kp, 0.5, 0.0, 100.0)[0])
    assert online.source is not None and online.source.frames == 1
    assert np.isfinite(out[:, :2]).all()


def test_online_before_any_measurement_passes_through() -> None:
    online = OnlineNormalizer(NormalizationStats(100, 200, 150, 100, 150, 128, 10))
    pose = missing_pose()
    pose[0] = (10, 20, 1)  # a nose but no ankles
    np.testing.assert_array_equal(online(pose), pose)
    assert np.isnan(online(missing_pose())[:, :2]).all()


def test_static_source_stands_where_the_target_usually_stands(target_kp) -> None:
    tgt = compute_stats(target_kp)
    still = np.repeat(_affine(target_kp[:1], 0.7, 0.0, 0.0), 30, axis=0)
    out = OfflineNormalizer(compute_stats(still), tgt)(still)
    assert np.nanmax(out[:, ANKLES, 1], axis=1) == pytest.approx(tgt.median, abs=1e-3)


def test_two_frames_a_little_apart(target_kp) -> None:
    """The median then falls between the frames; the far height comes from the nearest one."""
    two = target_kp[:2].copy()
    two[1, :, 1] += 12.0
    st = compute_stats(two)
    assert st.far <= st.close and st.height_far > 0 and st.frames == 2


def test_stats_roundtrip_and_errors() -> None:
    st = NormalizationStats(1, 2, 1.5, 3, 4, 5, 6)
    assert NormalizationStats.from_dict(st.to_dict()) == st
    with pytest.raises(InputError):
        NormalizationStats.from_dict({"far": 1})
    with pytest.raises(InputError, match="no frame"):
        compute_stats(np.stack([missing_pose()] * 3))


def test_online_updates_blend_in_without_a_jump(target_kp) -> None:
    """New statistics take over over a few frames: a pose held still never jumps, while
    the same update applied at once (blend_frames=0) does."""
    source = _affine(target_kp, 1.3, 20.0, -40.0)
    steps = {}
    for blend in (0, 15):
        online = OnlineNormalizer(compute_stats(target_kp), calibration_frames=5,
                                  history_frames=len(source), update_every=30,
                                  blend_frames=blend)
        for p in source[:5]:  # calibrated on a narrow range of positions
            online(p)
        still = source[5]
        out = []
        for p in source[6:]:
            online.transform(p)  # learns the whole range
            out.append(online(still))
        out = np.stack(out)
        steps[blend] = float(np.abs(np.diff(out[:, :, :2], axis=0)).max())
    assert steps[0] > 3 * steps[15]
    assert steps[15] < 0.03 * (target_kp[:, :, 1].max() - target_kp[:, :, 1].min())


def test_statistics_carry_the_bodys_proportions_and_read_old_ones(target_kp) -> None:
    stats = compute_stats(target_kp)
    assert 0.2 < stats.torso < 0.45 and 0.1 < stats.shoulders < 0.4
    old = {k: v for k, v in stats.to_dict().items() if k not in ("torso", "shoulders")}
    legacy = NormalizationStats.from_dict(old)  # written before the proportions existed
    from engine.body import NEUTRAL_TORSO

    assert np.isnan(legacy.torso) and legacy.torso_ratio() == NEUTRAL_TORSO
    assert NormalizationStats.from_dict(stats.to_dict()) == stats
