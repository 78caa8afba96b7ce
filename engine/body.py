"""The body's structure as the engine completes and places it.

* `standing_pose`: the neutral standing pose in a target's framing (what the avatar shows
  for joints nobody has seen, and when nobody is in view);
* `PARENTS`: for each landmark, the joints it hangs from, in order of preference: a joint
  that is not there is placed relative to the first of them that is;
* `torso_length`, `shoulder_width`: the measures that give a body's scale when its legs
  are out of view.

Coordinates are image pixels, y down; "left" is the person's left (the image's right for
a person facing the camera).
"""

from __future__ import annotations

import numpy as np

from engine.keypoints import LANDMARK_NAMES, LM, NUM_LANDMARKS

# A person standing, facing the camera: (x, y) per landmark in units of the body height
# (ankle to nose), from the midpoint between the ankles; y grows downwards as in images.
STANDING: dict[str, tuple[float, float]] = {
    "nose": (0.0, -1.0), "left_eye_inner": (0.012, -1.02), "left_eye": (0.024, -1.022),
    "left_eye_outer": (0.035, -1.02), "right_eye_inner": (-0.012, -1.02),
    "right_eye": (-0.024, -1.022), "right_eye_outer": (-0.035, -1.02),
    "left_ear": (0.055, -1.0), "right_ear": (-0.055, -1.0), "mouth_left": (0.016, -0.965),
    "mouth_right": (-0.016, -0.965), "left_shoulder": (0.115, -0.83),
    "right_shoulder": (-0.115, -0.83), "left_elbow": (0.14, -0.63),
    "right_elbow": (-0.14, -0.63), "left_wrist": (0.15, -0.45), "right_wrist": (-0.15, -0.45),
    "left_pinky": (0.155, -0.41), "right_pinky": (-0.155, -0.41),
    "left_index": (0.15, -0.40), "right_index": (-0.15, -0.40), "left_thumb": (0.135, -0.42),
    "right_thumb": (-0.135, -0.42), "left_hip": (0.07, -0.5), "right_hip": (-0.07, -0.5),
    "left_knee": (0.072, -0.255), "right_knee": (-0.072, -0.255), "left_ankle": (0.075, 0.0),
    "right_ankle": (-0.075, 0.0), "left_heel": (0.07, 0.015), "right_heel": (-0.07, 0.015),
    "left_foot_index": (0.095, 0.035), "right_foot_index": (-0.095, 0.035),
}  # fmt: skip

SHOULDERS = (LM["left_shoulder"], LM["right_shoulder"])
HIPS = (LM["left_hip"], LM["right_hip"])
ANKLES = (LM["left_ankle"], LM["right_ankle"])
KNEES = (LM["left_knee"], LM["right_knee"])
NOSE = LM["nose"]


def _other(name: str) -> str:
    return name.replace("left_", "@").replace("right_", "left_").replace("@", "right_")


def _parents() -> tuple[tuple[int, ...], ...]:
    face = [n for n in STANDING if n != "nose" and LM[n] <= LM["mouth_right"]]
    table: dict[str, list[str]] = {"nose": ["left_shoulder", "right_shoulder"]}
    for n in face:
        table[n] = ["nose", "left_shoulder", "right_shoulder"]
    for side in ("left", "right"):
        other = _other(f"{side}_")
        table[f"{side}_shoulder"] = [f"{other}shoulder", f"{side}_hip", "nose"]
        table[f"{side}_hip"] = [f"{other}hip", f"{side}_shoulder"]
        table[f"{side}_elbow"] = [f"{side}_shoulder"]
        table[f"{side}_wrist"] = [f"{side}_elbow"]
        for hand in ("pinky", "index", "thumb"):
            table[f"{side}_{hand}"] = [f"{side}_wrist"]
        table[f"{side}_knee"] = [f"{side}_hip"]
        table[f"{side}_ankle"] = [f"{side}_knee"]
        for foot in ("heel", "foot_index"):
            table[f"{side}_{foot}"] = [f"{side}_ankle"]
    return tuple(tuple(LM[p] for p in table[name]) for name in LANDMARK_NAMES)


# PARENTS[j]: the joints landmark j is placed from when it is not there, best first.
PARENTS: tuple[tuple[int, ...], ...] = _parents()


def standing_pose_at(center_x: float, floor_y: float, height: float) -> np.ndarray:
    """`[33, 3]` neutral standing pose with its ankles' midpoint at (center_x, floor_y)
    and `height` pixels from ankle to nose; visibility 1."""
    pose = np.ones((NUM_LANDMARKS, 3), dtype=np.float32)
    for name, (x, y) in STANDING.items():
        pose[LM[name], 0] = center_x + x * height
        pose[LM[name], 1] = floor_y + y * height
    return pose


def standing_height(target: object) -> float:
    """A target's body height (ankle to nose, pixels) where it usually stands: its
    statistics' heights interpolated at the median ankle row."""
    span = target.close - target.far  # type: ignore[attr-defined]
    p = (target.median - target.far) / span if span > 1e-6 else 0.0  # type: ignore[attr-defined]
    p = float(np.clip(p, 0, 1))
    return float(target.height_far + p * (target.height_close  # type: ignore[attr-defined]
                                          - target.height_far))  # type: ignore[attr-defined]


def standing_pose(target: object) -> np.ndarray:
    """`[33, 3]` neutral standing pose where a target (its `NormalizationStats`) usually
    stands, at its height there."""
    return standing_pose_at(target.center_x, target.median,  # type: ignore[attr-defined]
                            standing_height(target))


def _pair_distance(pose: np.ndarray, pair: tuple[int, int]) -> float:
    a, b = np.asarray(pose, dtype=np.float64)[list(pair), :2]
    d = float(np.linalg.norm(a - b))
    return d if np.isfinite(d) else float("nan")


def torso_length(pose: np.ndarray) -> float:
    """Distance from the shoulders' midpoint to the hips' midpoint (NaN if unknown)."""
    p = np.asarray(pose, dtype=np.float64)[:, :2]
    d = float(np.linalg.norm(p[list(SHOULDERS)].mean(0) - p[list(HIPS)].mean(0)))
    return d if np.isfinite(d) else float("nan")


def shoulder_width(pose: np.ndarray) -> float:
    """Distance between the shoulders (NaN if unknown)."""
    return _pair_distance(pose, SHOULDERS)


# The neutral pose's own proportions, the fallback for targets measured before these
# statistics existed.
_NEUTRAL = standing_pose_at(0.0, 0.0, 1.0)
NEUTRAL_TORSO = torso_length(_NEUTRAL)  # torso length per unit of body height
NEUTRAL_SHOULDERS = shoulder_width(_NEUTRAL)  # shoulder width per unit of body height
