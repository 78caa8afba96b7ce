"""Acceptance of real camera framings, on the avatar's own frames (a reduced
`benchmarks.framing`): a desk view through `dancenow render`, the engine's output pose
through a zoom, and the avatar following the dancer with a second person in view.

BlazePose re-detects the pose on the avatar frames with the committed `demo-live`
avatar; the targets are the benchmark's own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from benchmarks.framing import (
    LEG_PARTS,
    SIDES,
    TARGET_ARMS,
    TARGET_FOLLOW,
    TARGET_STANDS,
    TARGET_STEP,
    arm_residual,
    engine_poses,
    fit_residual,
    follow,
    follow_residuals,
    frame_steps,
    in_transition,
    leg_failure,
    legs_and_arms,
    live_run,
    make_clip,
    render_run,
    zoom_steps,
)
from engine.avatar import DEMO_LIVE_AVATAR, AvatarBundle, load_bundle
from engine.keypoints import LM, MIRROR
from synth.clip import ClipSpec
from synth.framing import ZOOM_TIMING

log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def bundle() -> AvatarBundle:
    return load_bundle(DEMO_LIVE_AVATAR, verify=True)


def _standing() -> np.ndarray:
    pose = np.full((33, 3), np.nan, dtype=np.float32)
    for i, side in enumerate(SIDES):
        for row, part in zip((120, 170, 220), LEG_PARTS, strict=True):
            pose[LM[f"{side}_{part}"]] = (110 + 30 * i, row, 0.9)
    return pose


def test_the_measures_tell_standing_from_broken_legs() -> None:
    assert leg_failure(_standing(), 256) == ""
    low = _standing()
    low[LM["right_ankle"], 2] = 0.3
    assert "right ankle visibility" in leg_failure(low, 256)
    out = _standing()
    out[LM["left_ankle"], 1] = 260.0
    assert "outside the frame" in leg_failure(out, 256)
    folded = _standing()
    folded[LM["left_knee"], 1] = 100.0  # knee above the hip
    assert "out of order" in leg_failure(folded, 256)


def test_the_fit_removes_scale_and_translation_only(rng) -> None:
    truth = rng.uniform(0, 300, (6, 2))
    assert fit_residual(truth, 0.7 * truth + [40.0, -15.0]) == pytest.approx(0.0, abs=1e-9)
    bent = 0.7 * truth + [40.0, -15.0]
    bent[5] += [20.0, 0.0]
    assert fit_residual(truth, bent) > 2.0
    mirrored = truth * [-1.0, 1.0]  # a mirror is not a scale: it stays a residual
    assert fit_residual(truth, mirrored) > 10.0
    pose = np.ones((33, 3), dtype=np.float32)
    pose[:, :2] = rng.uniform(0, 300, (33, 2))
    hidden = pose.copy()
    hidden[LM["left_wrist"], 2] = 0.0
    assert arm_residual(hidden, pose, 256) is None
    lost = pose.copy()
    lost[LM["right_elbow"], :2] = np.nan
    assert arm_residual(pose, lost, 256) == float("inf")


def test_a_left_right_exchange_by_the_detector_is_not_a_movement(rng) -> None:
    still = _standing()
    exchanged = still[list(MIRROR)]
    steps, relabelled = frame_steps(np.stack([still, exchanged]), 256, relabel=True)
    assert steps[0] == pytest.approx(0.0) and relabelled[0]
    labelled, _ = frame_steps(np.stack([still, exchanged]), 256)
    assert labelled[0] == pytest.approx(30 / 256)
    moved = still.copy()
    moved[:, 1] += 10.0
    steps, relabelled = frame_steps(np.stack([still, moved]), 256, relabel=True)
    assert steps[0] == pytest.approx(10 / 256) and not relabelled[0]

    dancer, other = (np.ones((33, 3), dtype=np.float32) for _ in range(2))
    dancer[:, :2], other[:, :2] = rng.uniform(0, 300, (2, 33, 2))
    found = 0.5 * dancer[list(MIRROR)] + 20.0
    found[:, 2] = 1.0
    as_found = follow_residuals(dancer, other, found, 256)
    best = follow_residuals(dancer, other, found, 256, relabel=True)
    assert best[0] == pytest.approx(0.0, abs=1e-6)
    assert best[1] > 0.01
    assert as_found[0] > 0.01


def test_the_zoom_windows_cover_both_zooms_and_the_settling_after() -> None:
    z = ZOOM_TIMING
    t = np.array([0.5, z.wide + 0.1, z.wide + z.zoom_in + 0.5, z.wide + z.zoom_in + 1.5,
                  z.period - 0.1, z.period + 0.5, z.period + 1.5])
    assert in_transition(t).tolist() == [False, True, True, False, True, True, False]


@pytest.mark.slow
def test_desk_view_render_stands_on_both_legs_and_follows_the_arms(tmp_path: Path,
                                                                   bundle) -> None:
    clip = make_clip("desk", ClipSpec(actor="performer", motion="wave", seconds=2.5, fps=12,
                                      seed=1, framing="desk", width=640, height=360), tmp_path)
    assert not (clip.truth[:, LM["left_ankle"], 2] > 0).any()  # a desk view indeed
    run = render_run(clip, bundle, "mediapipe", "mediapipe", tmp_path, {})
    row = legs_and_arms(run, clip)
    log.info("desk render: stands %.3f, arm residual median %.4f, modes %s", row["stands"],
             row["arm_median"], row["modes"])
    assert row["modes"] == {"upper": len(clip.truth)}
    assert row["arm_frames"] >= len(clip.truth) // 2
    assert row["stands"] >= TARGET_STANDS, row["leg_failures"]
    assert row["arm_median"] <= TARGET_ARMS


@pytest.mark.slow
def test_zooming_in_and_out_moves_the_avatars_hips_and_ankles_gently(tmp_path: Path,
                                                                     bundle) -> None:
    # One zoom in and out at a webcam's 30 fps, as `dancenow render` gets it.
    seconds = ZOOM_TIMING.period + 1.0
    clip = make_clip("zoom", ClipSpec(actor="performer", motion="wave", seconds=seconds,
                                      fps=30, seed=6, framing="zoom", width=640, height=360),
                     tmp_path)
    poses, modes = engine_poses(clip, bundle, "mediapipe", {})
    assert {"full", "upper"} <= set(modes)  # both framings were seen
    steps = zoom_steps(poses, np.arange(len(poses)), clip.spec.fps, bundle.resolution, modes,
                       relabel=False)
    log.info("zoom, engine output: %s", steps)
    assert steps["pairs"] >= 120 and steps["lost"] == 0
    assert steps["transitions"]["max"] <= TARGET_STEP


@pytest.mark.slow
def test_the_live_avatar_stays_on_the_dancer_beside_another_person(tmp_path: Path, bundle,
                                                                   pose_models) -> None:
    clip = make_clip("two", ClipSpec(actor="performer", motion="dance", seconds=2.5, fps=12,
                                     seed=7, width=640, height=360, place_x=0.4,
                                     second_actor="target", second_motion="idle"), tmp_path)
    assert clip.second is not None and (clip.second[:, LM["nose"], 2] > 0).all()
    run = live_run(clip, bundle, "ort-cpu", "mediapipe", pose_models=str(pose_models))
    row = follow(run, clip)
    log.info("two people, live: %.3f of %d frames follow the dancer (engine output %.3f)",
             row["follows"], row["frames"], row["engine_follows"])
    assert row["frames"] >= 15
    assert row["engine_follows"] >= TARGET_FOLLOW, row["failures"]
    assert row["follows"] >= TARGET_FOLLOW, row["failures"]
