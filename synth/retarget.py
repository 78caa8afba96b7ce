"""Retarget foreign keypoints onto an actor's body.

Each bone keeps the source's direction and foreshortening but takes the actor's
length; the root (mid-hip) keeps the source's trajectory. Lengths are compared in
units of a smoothed torso length, so the source's own build and its distance from
the camera cancel out:

    f = (source bone length / source torso scale) / (its 90th percentile over the clip)
    target bone length (px) = min(f, 1) * actor bone length (m) * px_per_m

with `px_per_m = source torso scale / reference torso length`.
"""

from __future__ import annotations

import numpy as np

from engine.errors import InputError
from engine.keypoints import LM, NUM_LANDMARKS
from synth.appearance import Appearance
from synth.body import PoseParams, Proportions, forward_kinematics

MID_HIP, MID_SHOULDER = NUM_LANDMARKS, NUM_LANDMARKS + 1  # virtual points


def _tree() -> list[tuple[int, int]]:
    """(parent, child) pairs in an order where every parent is placed first."""
    t = [(MID_HIP, LM["left_hip"]), (MID_HIP, LM["right_hip"]), (MID_HIP, MID_SHOULDER),
         (MID_SHOULDER, LM["left_shoulder"]), (MID_SHOULDER, LM["right_shoulder"]),
         (MID_SHOULDER, LM["nose"])]
    for side in ("left", "right"):
        t += [(LM[f"{side}_shoulder"], LM[f"{side}_elbow"]),
              (LM[f"{side}_elbow"], LM[f"{side}_wrist"])]
        t += [(LM[f"{side}_wrist"], LM[f"{side}_{f}"]) for f in ("pinky", "index", "thumb")]
        t += [(LM[f"{side}_hip"], LM[f"{side}_knee"]), (LM[f"{side}_knee"], LM[f"{side}_ankle"]),
              (LM[f"{side}_ankle"], LM[f"{side}_heel"]),
              (LM[f"{side}_ankle"], LM[f"{side}_foot_index"])]
    face = ("left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
            "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right")
    t += [(LM["nose"], LM[f]) for f in face]
    return t


TREE = _tree()


def _with_virtual(xy: np.ndarray) -> np.ndarray:
    """`[..., 33, d]` -> `[..., 35, d]` with mid-hip and mid-shoulder appended."""
    mh = (xy[..., LM["left_hip"], :] + xy[..., LM["right_hip"], :]) / 2
    ms = (xy[..., LM["left_shoulder"], :] + xy[..., LM["right_shoulder"], :]) / 2
    return np.concatenate([xy, mh[..., None, :], ms[..., None, :]], axis=-2)


def rest_bone_lengths(body: Proportions) -> np.ndarray:
    """Length (metres) of every bone of `TREE` in the body's rest pose."""
    pts, _ = forward_kinematics(body, PoseParams())
    p = _with_virtual(pts)
    return np.array([np.linalg.norm(p[c] - p[a]) for a, c in TREE])


def _rolling_median(x: np.ndarray, half: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    for i in range(len(x)):
        w = x[max(0, i - half): i + half + 1]
        w = w[np.isfinite(w)]
        if w.size:
            out[i] = np.median(w)
    return out


def retarget(keypoints: np.ndarray, app: Appearance, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints `[T, 33, 3]` for `app` performing `keypoints`, and pixels per metre `[T]`."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_LANDMARKS, 3):
        raise InputError(f"keypoints must have shape [T, 33, 3], got {list(kp.shape)}")
    xy = _with_virtual(kp[..., :2])
    torso = np.linalg.norm(xy[:, MID_SHOULDER] - xy[:, MID_HIP], axis=1)
    scale = _rolling_median(torso, max(int(fps), 1))  # source torso px, steady over ~2 s
    if not np.isfinite(scale).any():
        raise InputError("the keypoints never show both shoulders and hips: nothing to retarget")
    idx = np.arange(len(scale))
    good = np.isfinite(scale)
    scale = np.interp(idx, idx[good], scale[good])  # hold the scale across gaps
    parents = np.array([a for a, _ in TREE])
    children = np.array([c for _, c in TREE])
    vec = xy[:, children] - xy[:, parents]  # [T, B, 2]
    length = np.linalg.norm(vec, axis=2)
    rel = length / scale[:, None]
    with np.errstate(all="ignore"):
        rest_src = np.nanpercentile(np.where(np.isfinite(rel), rel, np.nan), 90, axis=0)
    rest_src = np.where(np.isfinite(rest_src) & (rest_src > 1e-6), rest_src, 1.0)
    fore = np.clip(rel / rest_src, 0.0, 1.0)
    px_per_m = scale / Proportions().torso
    target_len = fore * rest_bone_lengths(app.body)[None, :] * px_per_m[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = vec / length[..., None]
    out = np.full_like(xy, np.nan)
    out[:, MID_HIP] = xy[:, MID_HIP]
    for b, (a, c) in enumerate(TREE):
        out[:, c] = out[:, a] + unit[:, b] * target_len[:, b, None]
    result = np.empty_like(kp)
    result[..., :2] = out[:, :NUM_LANDMARKS]
    result[..., 2] = np.where(np.isfinite(result[..., 0]), kp[..., 2], 0.0)
    return result.astype(np.float32), px_per_m
