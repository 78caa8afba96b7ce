"""The pose coverage report, on keypoint arrays (the synthetic actor's ground truth and
hand-made poses): no video, no pose estimator."""

from __future__ import annotations

import numpy as np
import pytest

from engine.keypoints import LM, NUM_LANDMARKS
from synth.appearance import get_actor
from synth.body import Camera
from synth.clip import pose_at
from synth.motions import Tempo
from train.coverage import (
    circle_fraction,
    circular_percentiles,
    coverage_report,
    format_coverage,
    limb_angles,
)


def motion_poses(motion: str, seconds: float = 6.0, fps: float = 15.0,
                 seed: int = 5) -> np.ndarray:
    """Ground-truth keypoints `[T, 33, 3]` of the target actor performing `motion`."""
    app, cam, tempo = get_actor("target"), Camera.for_size(256, 256), Tempo.from_seed(seed)
    return np.stack([pose_at(app, cam, motion, tempo, i / fps)[0]
                     for i in range(int(seconds * fps))])


def standing() -> np.ndarray:
    """A hand-made frontal pose (the person's left on the image's right), arms hanging."""
    kp = np.full((NUM_LANDMARKS, 3), np.nan, np.float32)
    kp[:, 2] = 0.0
    points = {"nose": (100, 40), "left_shoulder": (115, 70), "right_shoulder": (85, 70),
              "left_elbow": (118, 100), "right_elbow": (82, 100),
              "left_wrist": (120, 130), "right_wrist": (80, 130),
              "left_hip": (110, 130), "right_hip": (90, 130),
              "left_knee": (111, 175), "right_knee": (89, 175),
              "left_ankle": (112, 220), "right_ankle": (88, 220)}
    for name, (x, y) in points.items():
        kp[LM[name]] = (x, y, 1.0)
    return kp


def warnings_about(report: dict, needle: str) -> list[str]:
    return [w for w in report["warnings"] if needle in w]


def test_limb_angles_follow_the_convention() -> None:
    kp = np.stack([standing()] * 4)
    # left forearm: down, out to the person's left (image right), up, across the body
    for i, (dx, dy) in enumerate([(0, 30), (30, 0), (0, -30), (-30, 0)]):
        kp[i, LM["left_wrist"], :2] = kp[i, LM["left_elbow"], :2] + (dx, dy)
        kp[i, LM["right_wrist"], :2] = kp[i, LM["right_elbow"], :2] + (-dx, dy)  # mirrored
    for side in ("left", "right"):
        assert limb_angles(kp, side, "elbow", "wrist") == pytest.approx([0, 90, 180, -90])
    kp[1, LM["left_wrist"], 2] = 0.1  # barely visible: not there
    assert np.isnan(limb_angles(kp, "left", "elbow", "wrist")[1])


def test_circular_percentiles_keep_a_range_through_straight_up() -> None:
    # Arms straight up, a little either way: one narrow range, not most of the circle.
    up = np.r_[np.linspace(160, 180, 20), np.linspace(-180, -160, 20)]
    lo, hi = circular_percentiles(up)
    assert 160 <= lo <= 165 and -165 <= hi <= -160
    lo, hi = circular_percentiles(np.linspace(-30, 90, 121))
    assert lo == pytest.approx(-24) and hi == pytest.approx(84)
    assert circle_fraction(np.linspace(-30, 89.5, 240)) == pytest.approx(12 / 36)
    assert circle_fraction(np.array([5.0])) == 1 / 36
    # In a long clip, a sector visited by one stray frame does not count.
    assert circle_fraction(np.r_[np.full(999, 5.0), 100.0]) == 1 / 36
    assert circle_fraction(np.r_[np.full(990, 5.0), np.full(10, 100.0)]) == 2 / 36


def test_arms_never_raised_warn_and_raised_arms_do_not() -> None:
    idle = coverage_report(motion_poses("idle"))
    assert idle["poses"]["arms_up"]["frames"] == 0
    assert warnings_about(idle, "no frame with a wrist above the head")
    assert warnings_about(idle, "upper arms only point within")
    wave = coverage_report(motion_poses("wave"))
    assert wave["poses"]["arms_up"]["share"] > 0.3
    assert not warnings_about(wave, "above the head")
    # The waving arm reaches well past the horizontal.
    assert max(wave["limbs"][f"{s}_forearm"]["span"] for s in ("left", "right")) > 120


def test_crouching_and_lifted_legs_are_found_where_they_happen() -> None:
    squat = coverage_report(motion_poses("squat"))
    assert squat["poses"]["crouching"]["share"] > 0.15
    assert not warnings_about(squat, "crouching")
    kick = coverage_report(motion_poses("kick"))
    assert kick["poses"]["leg_lifted"]["share"] > 0.15
    assert kick["poses"]["crouching"]["frames"] == 0
    # Walking toward the camera changes the body's size, not its posture.
    approach = coverage_report(motion_poses("approach", seconds=8.0))
    assert approach["poses"]["crouching"]["frames"] == 0
    assert approach["poses"]["leg_lifted"]["frames"] == 0
    for report in (squat, approach):
        assert warnings_about(report, "no frame with a leg lifted")


def test_rare_poses_and_sideways() -> None:
    kp = np.stack([standing()] * 100)
    kp[:2, LM["left_wrist"], 1] = 20  # 2 frames of 100 with a raised hand: rare
    kp[50:60, LM["left_shoulder"], 0] = 103  # 10 frames turned sideways
    kp[50:60, LM["right_shoulder"], 0] = 97
    report = coverage_report(kp)
    assert report["poses"]["arms_up"]["frames"] == 2
    assert warnings_about(report, "only 2 frames (2.0%) with a wrist above the head")
    assert report["poses"]["sideways"]["frames"] == 10
    assert not warnings_about(report, "sideways")


def test_legs_out_of_the_picture_are_reported_missing() -> None:
    kp = np.stack([standing()] * 40)
    for name in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        kp[:30, LM[name]] = (np.nan, np.nan, 0.0)  # desk view for 30 of 40 frames
    kp[35:, 0] = (np.nan, np.nan, 0.0)  # nose gone too: still a person
    report = coverage_report(kp)
    assert report["frames"] == 40
    assert report["limbs"]["left_shin"]["seen"] == 0.25
    assert warnings_about(report, "shins are seen in only 25% (left), 25% (right)")
    assert report["poses"]["crouching"]["judged"] == 10


def test_frames_without_a_person_do_not_count() -> None:
    kp = np.stack([standing()] * 10 + [np.full((33, 3), np.nan, np.float32)] * 10)
    assert coverage_report(kp)["frames"] == 10
    empty = coverage_report(np.full((5, 33, 3), np.nan, np.float32))
    assert empty["frames"] == 0 and empty["warnings"] == [
        "no frame shows a person: nothing to learn from"]
    with pytest.raises(ValueError, match=r"\[T, 33, 3\]"):
        coverage_report(np.zeros((4, 17, 3)))


def test_standing_value_is_per_clip() -> None:
    """A second clip filmed from higher up, where the legs look shorter, is not crouching;
    judged against the first clip's standing value it would be."""
    first = motion_poses("idle", seconds=2.0)
    second = first.copy()
    hip_y = second[:, [LM["left_hip"], LM["right_hip"]], 1].mean(axis=1, keepdims=True)
    below = second[..., 1] > hip_y
    second[..., 1] = np.where(below, hip_y + 0.6 * (second[..., 1] - hip_y), second[..., 1])
    kp = np.concatenate([first, second])
    video = np.r_[np.zeros(len(first)), np.ones(len(second))]
    assert coverage_report(kp, video)["poses"]["crouching"]["frames"] == 0
    assert coverage_report(kp)["poses"]["crouching"]["frames"] == len(second)


def test_format_shows_table_and_warnings() -> None:
    text = format_coverage(coverage_report(motion_poses("idle", seconds=2.0)))
    lines = text.splitlines()
    assert lines[0].startswith("pose coverage (30 frames with a person")
    assert any(line.split()[:3] == ["left", "upper", "arm"] for line in lines)
    assert "wrist above the head" in text and "warnings:" in text
    assert "  - no frame with a wrist above the head: the avatar will fail on raised arms" in lines
