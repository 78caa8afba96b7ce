"""BlazePose's 33-landmark layout and the keypoints file format (`*.kp.npz`).

A keypoints array is float32 `[T, 33, 3]`: x pixels, y pixels, visibility 0..1.
Missing detections are NaN coordinates with visibility 0.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError

LANDMARK_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear",
    "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
    "left_pinky", "right_pinky",
    "left_index", "right_index",
    "left_thumb", "right_thumb",
    "left_hip", "right_hip",
    "left_knee", "right_knee",
    "left_ankle", "right_ankle",
    "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)  # fmt: skip
NUM_LANDMARKS = len(LANDMARK_NAMES)
LM: dict[str, int] = {name: i for i, name in enumerate(LANDMARK_NAMES)}

# The 12 limb joints used for accuracy figures (PCK, pose distance).
LIMB_JOINTS: tuple[int, ...] = tuple(
    LM[f"{side}_{part}"]
    for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
    for side in ("left", "right")
)

# Index of each landmark's mirror image (left <-> right).
MIRROR: tuple[int, ...] = tuple(
    LM[n.replace("left_", "@").replace("right_", "left_").replace("@", "right_")]
    for n in LANDMARK_NAMES
)


# The one rule for "is this joint there": every consumer (filters, normalization, label
# maps, face boxes, body completion, reports) reads it from here. A joint is missing when
# its coordinates are NaN, its visibility is below MIN_VISIBILITY, or it lies outside the
# frame it was found in (BlazePose extrapolates joints past the frame's edge), or lies
# within EDGE_MARGIN of its edge (a limb cut there is estimated unreliably: the joint
# jitters in and out and drags what hangs from it along).
MIN_VISIBILITY = 0.2
EDGE_MARGIN = 0.02  # of the frame's shorter side


def visible_mask(pose: np.ndarray, frame_size: tuple[int, int] | None = None,
                 min_visibility: float = MIN_VISIBILITY,
                 edge: float = EDGE_MARGIN) -> np.ndarray:
    """Boolean `[..., 33]`: joints that are there (see MIN_VISIBILITY). `pose` is
    `[..., 33, 3]`; with `frame_size` = (width, height), joints outside it, or within
    `edge` (a fraction of its shorter side) of its edge, are missing. Ground truth, exact
    to the edge, passes `edge=0`."""
    kp = np.asarray(pose, dtype=np.float32)
    ok = np.isfinite(kp[..., :2]).all(axis=-1) & (kp[..., 2] >= min_visibility)
    if frame_size is not None:
        width, height = frame_size
        m = edge * min(width, height)
        x, y = kp[..., 0], kp[..., 1]
        with np.errstate(invalid="ignore"):
            ok &= (x >= m) & (x <= width - m) & (y >= m) & (y <= height - m)
    return ok


def drop_unseen(pose: np.ndarray, frame_size: tuple[int, int] | None = None,
                min_visibility: float = MIN_VISIBILITY, edge: float = EDGE_MARGIN) -> np.ndarray:
    """A copy of `pose` (`[..., 33, 3]`) whose missing joints (see `visible_mask`) are NaN
    with visibility 0, so that every later step sees them as not there."""
    out = np.array(pose, dtype=np.float32, copy=True)
    gone = ~visible_mask(out, frame_size, min_visibility, edge)
    out[gone, :2] = np.nan
    out[gone, 2] = 0.0
    return out


def missing_pose() -> np.ndarray:
    """A `[33, 3]` pose with nothing detected."""
    pose = np.full((NUM_LANDMARKS, 3), np.nan, dtype=np.float32)
    pose[:, 2] = 0.0
    return pose


@dataclass
class KeypointTrack:
    """A keypoints file in memory: poses per frame, frame rate and frame size."""

    keypoints: np.ndarray  # float32 [T, 33, 3]
    fps: float
    size: tuple[int, int]  # (width, height)

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_LANDMARKS, 3):
            raise InputError(f"keypoints must have shape [T, 33, 3], got {list(kp.shape)}")
        if not (self.fps > 0):
            raise InputError(f"fps must be positive, got {self.fps}")
        width, height = (int(v) for v in self.size)
        if width <= 0 or height <= 0:
            raise InputError(f"frame size must be positive, got {width}x{height}")
        self.keypoints = kp
        self.fps = float(self.fps)
        self.size = (width, height)

    def __len__(self) -> int:
        return self.keypoints.shape[0]

    def detected(self) -> np.ndarray:
        """Boolean `[T]`: frames where a person was found."""
        return ~np.all(np.isnan(self.keypoints[:, :, 0]), axis=1)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically to `path` (a temporary file renamed into place)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                keypoints=self.keypoints.astype(np.float32),
                fps=np.float32(self.fps),
                size=np.asarray(self.size, dtype=np.int32),
            )
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeypointTrack:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"keypoints file not found: {path}")
        try:
            with np.load(path) as data:
                missing = {"keypoints", "fps", "size"} - set(data.files)
                if missing:
                    raise InputError(f"{path} is not a keypoints file (missing {sorted(missing)})")
                return cls(data["keypoints"], float(data["fps"]), tuple(data["size"].tolist()))
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"cannot read keypoints file {path}: {exc}") from exc


def keypoints_path_for(video_path: str | os.PathLike[str], tag: str = "") -> Path:
    """`clip.mp4` -> `clip.kp.npz` (or `clip.TAG.kp.npz`), beside it."""
    p = Path(video_path)
    return p.with_name(p.stem + (f".{tag}" if tag else "") + ".kp.npz")
