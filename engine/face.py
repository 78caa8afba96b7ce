"""Face boxes from BlazePose's face landmarks, and cropping / pasting helpers.

The box follows the head and scales with it: its centre is the mean of the visible
face points, its side the larger of two head-size estimates (eye-to-mouth distance,
which survives turning, and ear-to-ear distance, which survives nodding). Boxes are
integer squares kept inside the frame, so a crop is a plain slice.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.keypoints import LM, MIN_VISIBILITY

FACE_POINTS = tuple(LM[n] for n in (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right"))  # fmt: skip

EYE_MOUTH_TO_SIDE = 3.8  # box side per eye-to-mouth distance
EARS_TO_SIDE = 1.6  # box side per ear-to-ear distance


def face_box(pose: np.ndarray, width: int, height: int, min_side: int = 8,
             min_visibility: float = MIN_VISIBILITY) -> np.ndarray | None:
    """`[x0, y0, side]` (int32) of the head in a `width` x `height` frame, or None."""
    pose = np.asarray(pose, dtype=np.float64)
    pts = pose[list(FACE_POINTS)]
    ok = np.isfinite(pts[:, :2]).all(axis=1) & (pts[:, 2] >= min_visibility)
    if ok.sum() < 3:
        return None
    center = pts[ok, :2].mean(axis=0)

    def seen(*names: str) -> np.ndarray | None:
        p = pose[[LM[n] for n in names]]
        good = np.isfinite(p[:, :2]).all() and (p[:, 2] >= min_visibility).all()
        return p[:, :2] if good else None

    sizes = []
    eyes, mouth = seen("left_eye", "right_eye"), seen("mouth_left", "mouth_right")
    if eyes is not None and mouth is not None:
        sizes.append(EYE_MOUTH_TO_SIDE * np.linalg.norm(eyes.mean(0) - mouth.mean(0)))
    ears = seen("left_ear", "right_ear")  # a hidden ear (profile) would shrink the box
    if ears is not None:
        sizes.append(EARS_TO_SIDE * np.linalg.norm(ears[0] - ears[1]))
    if not sizes:
        return None
    side = int(round(max(max(sizes), min_side)))
    side = min(side, width, height)
    x0 = int(np.clip(round(center[0] - side / 2), 0, width - side))
    y0 = int(np.clip(round(center[1] - side / 2), 0, height - side))
    return np.array([x0, y0, side], dtype=np.int32)


def crop_resize(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """The box's square cut from an HxWxC image, resized to `size` x `size`."""
    x0, y0, side = (int(v) for v in box)
    patch = image[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def paste_residual(image: np.ndarray, residual: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Add a `size` x `size` x C residual, resized to the box, to a float image in place."""
    x0, y0, side = (int(v) for v in box)
    up = cv2.resize(residual, (side, side), interpolation=cv2.INTER_LINEAR)
    if up.ndim == 2:
        up = up[..., None]
    region = image[y0:y0 + side, x0:x0 + side]
    np.clip(region + up, -1.0, 1.0, out=region)
    return image
