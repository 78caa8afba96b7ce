"""The per-frame work of the live pipeline, as plain callables (one per stage).

Each step owns its state and models and is called from one thread at a time:

* `PoseStep`: BlazePose on the captured frame;
* `LabelStep`: one-euro filter, online normalization to the avatar's framing, what to
  show when nobody is seen (hold the last pose briefly, then ease to a neutral standing
  pose), the label map (native kernel) and the face box;
* `RenderStep`: the generator's avatar frame from the label map (temporal feedback
  restarting where the label step says);
* `FinishStep`: the face residual and the uint8 output (its own stage, so that the face
  of one frame runs beside the generator on the next).

`LivePipeline` runs them as concurrent stages; `run_sequential` calls them one after
another, the baseline the pipelining gain is measured against.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from engine.face import face_box
from engine.filters import PoseFilter
from engine.keypoints import LM, NUM_LANDMARKS
from engine.normalize import NormalizationStats, OnlineNormalizer
from engine.pipeline.frame import LiveFrame
from engine.pose.base import PoseEstimator
from engine.renderer import AvatarRenderer
from engine.skeleton import fit_square, render_label_map, tensor_to_image

log = logging.getLogger(__name__)

# A person standing, facing the camera: (x, y) per landmark in units of the body height
# (ankle to nose), from the midpoint between the ankles; y grows downwards as in images.
# The person's left side is on the image's right.
_STANDING = {
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
}


def standing_pose(target: NormalizationStats) -> np.ndarray:
    """`[33, 3]` neutral standing pose where the target usually stands, at its height there."""
    span = target.close - target.far
    p = (target.median - target.far) / span if span > 1e-6 else 0.0
    height = target.height_far + float(np.clip(p, 0, 1)) * (target.height_close - target.height_far)
    pose = np.ones((NUM_LANDMARKS, 3), dtype=np.float32)
    for name, (x, y) in _STANDING.items():
        pose[LM[name], 0] = target.center_x + x * height
        pose[LM[name], 1] = target.median + y * height
    return pose


class PoseStep:
    """BlazePose on the frame (the estimator tracks from frame to frame)."""

    def __init__(self, estimator: PoseEstimator) -> None:
        self.estimator = estimator

    def __call__(self, frame: LiveFrame) -> LiveFrame:
        frame.pose = self.estimator.estimate(frame.image)
        frame.person = bool(np.isfinite(frame.pose[:, :2]).any())
        return frame


class GapBridge:
    """What to show while nobody is seen: the last pose for `hold_seconds`, then an ease
    to the neutral standing pose over `ease_seconds`, then that pose. `seen` reports a
    pose and says whether the generator should restart (the gap outlasted the hold)."""

    def __init__(self, neutral: np.ndarray, hold_seconds: float = 0.5,
                 ease_seconds: float = 1.0) -> None:
        self.neutral = neutral
        self.hold_seconds = hold_seconds
        self.ease_seconds = ease_seconds
        self._last: np.ndarray | None = None
        self._missing_since: float | None = None

    def seen(self, pose: np.ndarray, now: float) -> bool:
        restart = (self._missing_since is not None
                   and now - self._missing_since > self.hold_seconds)
        self._missing_since = None
        self._last = pose
        return restart

    def missing(self, now: float) -> np.ndarray:
        if self._missing_since is None:
            self._missing_since = now
        gone = now - self._missing_since
        if self._last is None:
            return self.neutral
        if gone <= self.hold_seconds:
            return self._last
        w = min(1.0, (gone - self.hold_seconds) / max(self.ease_seconds, 1e-6))
        w = w * w * (3 - 2 * w)  # smoothstep: no jerk at either end
        pose = self._last.copy()
        both = np.isfinite(pose[:, :2]).all(axis=1)
        pose[both, :2] = (1 - w) * pose[both, :2] + w * self.neutral[both, :2]
        pose[~both] = self.neutral[~both]
        return pose


def label_and_face(pose: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The label map (float16 `[1, 3, S, S]`) and face box of a pose in avatar pixels."""
    return render_label_map(pose, size, size), face_box(pose, size, size)


class LabelStep:
    """Filter, normalize, bridge gaps, draw the label map (see the module docstring)."""

    def __init__(self, target: NormalizationStats, size: int, hold_seconds: float = 0.5,
                 ease_seconds: float = 1.0, calibration_frames: int = 30) -> None:
        self.target = target
        self.size = size
        self.neutral = standing_pose(target)
        self.bridge = GapBridge(self.neutral, hold_seconds, ease_seconds)
        self.filter = PoseFilter()
        self.normalizer = OnlineNormalizer(target, calibration_frames=calibration_frames)
        self._reset_requested = False
        self._frame_size: tuple[int, int] | None = None

    def request_reset(self) -> None:
        """Restart the normalization statistics (and the filter) at the next frame."""
        self._reset_requested = True

    def __call__(self, frame: LiveFrame) -> LiveFrame:
        now = frame.captured
        if self._reset_requested:
            self._reset_requested = False
            self.normalizer.reset()
            self.filter.reset()
            log.info("normalization statistics restarted at frame %d", frame.index)
        h, w = frame.image.shape[:2]
        if self._frame_size != (w, h):
            self._frame_size = (w, h)
            self.scale, self.offset = fit_square((w, h), self.size)
        pose = frame.pose
        if frame.person and pose is not None:
            steady = self.filter(pose, now)
            in_avatar = steady.copy()
            in_avatar[:, 0] = steady[:, 0] * self.scale[0] + self.offset[0]
            in_avatar[:, 1] = steady[:, 1] * self.scale[1] + self.offset[1]
            normalized = self.normalizer(in_avatar)
            frame.restart = self.bridge.seen(normalized, now)
            frame.held = False
        else:
            self.filter(np.full((NUM_LANDMARKS, 3), np.nan, np.float32), now)
            normalized = self.bridge.missing(now)
            frame.restart, frame.held = False, True
        frame.normalized = normalized
        frame.label, frame.face_box = label_and_face(normalized, self.size)
        return frame


class RenderStep:
    """The generator's avatar frame for the label map."""

    def __init__(self, renderer: AvatarRenderer) -> None:
        self.renderer = renderer

    def __call__(self, frame: LiveFrame) -> LiveFrame:
        if frame.restart:
            self.renderer.reset()
        frame.label = frame.label.astype(np.float32, copy=False)
        frame.rendered = self.renderer.generate(frame.label)
        return frame


class FinishStep:
    """The face residual on the generated frame, then the uint8 avatar frame."""

    def __init__(self, renderer: AvatarRenderer) -> None:
        self.renderer = renderer

    def __call__(self, frame: LiveFrame) -> LiveFrame:
        self.renderer.add_face(frame.label, frame.rendered, frame.face_box)
        frame.output = tensor_to_image(frame.rendered)
        frame.rendered = None
        return frame


def run_sequential(frames: list[np.ndarray], steps: dict[str, object], fps: float) -> dict:
    """The same steps one after another per frame: the baseline for the pipelining gain.

    Frames are stamped as if captured at `fps`, but processed as fast as the steps go."""
    start = time.perf_counter()
    latencies = []
    for i, image in enumerate(frames):
        frame = LiveFrame(i, image, captured=time.perf_counter())
        for name, step in steps.items():
            step(frame)
            frame.stamp(name)
        latencies.append(frame.latency())
    elapsed = time.perf_counter() - start
    return {"frames": len(frames), "seconds": elapsed, "output_fps": len(frames) / elapsed,
            "latency_s": latencies, "source_fps": fps}
