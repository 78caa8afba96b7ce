"""How a source video frames the person: frames showing the whole body, frames cut by
the source frame itself.

"Whole body" means the nose and the 12 limb joints (`engine.keypoints.LIMB_JOINTS`) are
all there by the project's one rule (`visible_mask` with the source frame's size). A
frame is "cut" when the estimator places one of those joints outside the source frame
(BlazePose extrapolates joints past the edge): no crop can bring that part back, so the
avatar learns nothing about it from that frame.
"""

from __future__ import annotations

import logging

import numpy as np

from engine.keypoints import LANDMARK_NAMES, LIMB_JOINTS, LM, visible_mask

log = logging.getLogger(__name__)

BODY_JOINTS: tuple[int, ...] = (LM["nose"], *LIMB_JOINTS)
CUT_WARN_SHARE = 0.10  # warn when more of the frames with a person than this are cut


def outside_frame(poses: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Boolean `[T, 33]`: joints with coordinates that lie outside the frame."""
    kp = np.asarray(poses, dtype=np.float32)
    width, height = frame_size
    x, y = kp[..., 0], kp[..., 1]
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(y) & ((x < 0) | (x > width) | (y < 0)
                                                  | (y > height))


def framing_report(poses: np.ndarray, frame_size: tuple[int, int]) -> dict:
    """Counts for one source video from its raw poses `[T, 33, 3]` in source pixels:
    frames, frames with a person, whole-body frames, cut frames (and their share of the
    frames with a person), and per body joint how often it was outside the frame."""
    kp = np.asarray(poses, dtype=np.float32)
    seen = visible_mask(kp, frame_size)
    person = visible_mask(kp).any(axis=1)
    whole = seen[:, BODY_JOINTS].all(axis=1)
    out = outside_frame(kp, frame_size)[:, BODY_JOINTS] & person[:, None]
    cut = out.any(axis=1)
    n_person = int(person.sum())
    by_joint = {LANDMARK_NAMES[j]: int(out[:, i].sum()) for i, j in enumerate(BODY_JOINTS)
                if out[:, i].any()}
    return {"frames": int(len(kp)), "detected": n_person, "whole_body": int(whole.sum()),
            "cut": int(cut.sum()), "cut_share": round(int(cut.sum()) / max(n_person, 1), 4),
            "cut_joints": by_joint}


def warn_if_cut(name: str, report: dict) -> bool:
    """Log a warning when too many frames are cut by the source frame; True if it did."""
    if report["cut_share"] <= CUT_WARN_SHARE:
        return False
    worst = sorted(report["cut_joints"].items(), key=lambda kv: -kv[1])[:4]
    joints = ", ".join(f"{joint} {count}" for joint, count in worst)
    log.warning("%s: %d of %d frames with a person (%.0f%%) are cut by the video's own frame "
                "(joints outside it: %s); the avatar cannot learn those parts there: film "
                "the whole body", name, report["cut"], report["detected"],
                100 * report["cut_share"], joints)
    return True
