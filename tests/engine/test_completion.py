"""Completing joints the camera does not show: hold, ease to neutral, ease back."""

from __future__ import annotations

import numpy as np

from engine.body import standing_pose_at
from engine.completion import PoseCompleter
from engine.keypoints import LM

NEUTRAL = standing_pose_at(128.0, 230.0, 200.0)
WRIST, ELBOW = LM["left_wrist"], LM["left_elbow"]


def _raised_arm() -> np.ndarray:
    pose = NEUTRAL.copy()
    pose[ELBOW, :2] = pose[LM["left_shoulder"], :2] + [30.0, -20.0]
    pose[WRIST, :2] = pose[ELBOW, :2] + [10.0, -35.0]
    return pose


def _run(completer: PoseCompleter, poses: list[np.ndarray], fps: float = 30.0
         ) -> list[np.ndarray]:
    out = []
    for i, pose in enumerate(poses):
        usable = completer.usable(pose, i / fps)
        out.append(completer.complete(pose, usable, NEUTRAL, i / fps))
    return out


def test_a_lost_wrist_holds_then_eases_to_hanging_and_never_jumps() -> None:
    seen = _raised_arm()
    lost = seen.copy()
    lost[WRIST, :2] = np.nan
    completer = PoseCompleter(hold_seconds=0.5, ease_seconds=1.0)
    out = _run(completer, [seen] * 10 + [lost] * 90)
    held = seen[WRIST, :2] - seen[ELBOW, :2]
    np.testing.assert_allclose(out[20][WRIST, :2] - out[20][ELBOW, :2], held, atol=1e-4)
    rest = NEUTRAL[WRIST, :2] - NEUTRAL[ELBOW, :2]
    np.testing.assert_allclose(out[-1][WRIST, :2] - out[-1][ELBOW, :2], rest, atol=1e-4)
    middle = out[10 + 30][WRIST, :2] - out[10 + 30][ELBOW, :2]  # 1 s in: half way
    assert not np.allclose(middle, held) and not np.allclose(middle, rest)
    steps = np.linalg.norm(np.diff([o[WRIST, :2] for o in out], axis=0), axis=1)
    # An ease over 30 frames: smoothstep's steepest step is 1.5x the mean one.
    assert steps.max() < 1.6 * np.linalg.norm(held - rest) / 30
    assert all(np.isfinite(o[:, :2]).all() for o in out)


def test_legs_never_seen_stand_neutral_under_the_hips() -> None:
    desk = NEUTRAL.copy()
    legs = [LM[f"{s}_{p}"] for s in ("left", "right")
            for p in ("knee", "ankle", "heel", "foot_index")]
    desk[legs, :2] = np.nan
    desk[:, 0] += 15.0  # the performer stands off the neutral's centre
    out = _run(PoseCompleter(), [desk] * 5)[-1]
    for side in ("left", "right"):
        hip, ankle = LM[f"{side}_hip"], LM[f"{side}_ankle"]
        np.testing.assert_allclose(out[ankle, :2] - out[hip, :2],
                                   NEUTRAL[ankle, :2] - NEUTRAL[hip, :2], atol=1e-4)


def test_a_joint_that_flickers_at_the_edge_is_not_taken_back_at_once() -> None:
    seen = _raised_arm()
    lost = seen.copy()
    lost[WRIST, :2] = np.nan
    flicker = [seen] * 5 + [lost] * 30 + [seen, lost] * 5  # single frames seen
    completer = PoseCompleter(reacquire_seconds=0.1)
    for i, pose in enumerate(flicker):
        usable = completer.usable(pose, i / 30)
        if i >= 35:
            assert not usable[WRIST]
        completer.complete(pose, usable, NEUTRAL, i / 30)


def test_a_joint_that_comes_back_eases_to_where_it_is_seen() -> None:
    seen = _raised_arm()
    lost = seen.copy()
    lost[WRIST, :2] = np.nan
    out = _run(PoseCompleter(return_seconds=0.3, reacquire_seconds=0.0),
               [seen] * 5 + [lost] * 70 + [seen] * 20)
    wrists = np.array([o[WRIST, :2] for o in out])
    assert np.linalg.norm(wrists[74] - seen[WRIST, :2]) > 20  # hanging by then
    steps = np.linalg.norm(np.diff(wrists[70:], axis=0), axis=1)
    assert steps.max() < 0.25 * np.linalg.norm(wrists[74] - seen[WRIST, :2])
    np.testing.assert_allclose(wrists[-1], seen[WRIST, :2], atol=1e-4)  # arrived


def test_children_follow_a_returning_parent_smoothly() -> None:
    """A hip seen again eases in, and the leg hanging from it moves with it (no jump)."""
    seen = NEUTRAL.copy()
    hip, knee = LM["left_hip"], LM["left_knee"]
    gone = seen.copy()
    gone[[hip, knee], :2] = np.nan
    back = seen.copy()
    back[hip, :2] += [12.0, -8.0]  # seen again somewhere else
    back[knee, :2] = np.nan
    out = _run(PoseCompleter(reacquire_seconds=0.0), [seen] * 5 + [gone] * 10 + [back] * 15)
    knees = np.array([o[knee, :2] for o in out])
    steps = np.linalg.norm(np.diff(knees[14:], axis=0), axis=1)
    assert steps.max() < 0.5 * 14.4  # the 14 px move is spread over several frames
