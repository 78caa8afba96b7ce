"""The per-frame work of the live pipeline, as plain callables (one per stage).

Each step owns its state and models and is called from one thread at a time:

* `PoseStep`: BlazePose on the captured frame;
* `LabelStep`: one-euro filter, then `engine.framing` (online normalization to the
  avatar's framing, upper-body placement when the legs are out of view, joints not there
  completed, what to show when nobody is seen), the pose predicted ahead by the session's
  delay (`engine.predict`, when on), the label map (native kernel) and the face box;
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
from engine.framing import Framing, FramingConfig
from engine.keypoints import drop_unseen, missing_pose
from engine.normalize import NormalizationStats, OnlineNormalizer
from engine.pipeline.frame import LiveFrame
from engine.pose.base import PoseEstimator
from engine.predict.delay import FILTER_LAG_MS, DelayEstimate
from engine.predict.setting import DEFAULT_METHOD, PredictSetting
from engine.renderer import AvatarRenderer
from engine.skeleton import fit_square, render_label_map, tensor_to_image

log = logging.getLogger(__name__)


class PoseStep:
    """BlazePose on the frame (the estimator tracks from frame to frame); joints outside
    the frame or barely visible become missing (`engine.keypoints.drop_unseen`)."""

    def __init__(self, estimator: PoseEstimator) -> None:
        self.estimator = estimator
        self._relock_requested = False

    def request_relock(self) -> None:
        """Choose the performer again (largest and most central) at the next frame."""
        self._relock_requested = True

    def __call__(self, frame: LiveFrame) -> LiveFrame:
        if self._relock_requested:
            self._relock_requested = False
            self.estimator.relock()
        h, w = frame.image.shape[:2]
        frame.pose = drop_unseen(self.estimator.estimate(frame.image), (w, h))
        frame.person = bool(np.isfinite(frame.pose[:, :2]).any())
        return frame


def label_and_face(pose: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The label map (float16 `[1, 3, S, S]`) and face box of a pose in avatar pixels."""
    return render_label_map(pose, size, size), face_box(pose, size, size)


class LabelStep:
    """Filter, then frame the pose in the avatar (`engine.framing`), predict it ahead by
    the session's delay (`predict`, `delay`), draw the label map.

    Prediction runs on poses the camera shows ("full" or "upper" mode, not held or eased)
    and restarts with the framing; `frame.normalized` is the pose drawn (predicted when
    on), `frame.horizon_ms` how far ahead it was predicted."""

    def __init__(self, target: NormalizationStats, size: int, hold_seconds: float = 0.5,
                 ease_seconds: float = 1.0, calibration_frames: int = 30,
                 predict: PredictSetting | None = None,
                 delay: DelayEstimate | None = None, method: str = DEFAULT_METHOD) -> None:
        self.target = target
        self.size = size
        self.filter = PoseFilter()
        self.normalizer = OnlineNormalizer(target, calibration_frames=calibration_frames)
        self.framing = Framing(target, size, self.normalizer,
                               FramingConfig(hold_seconds=hold_seconds,
                                             ease_seconds=ease_seconds))
        self.neutral = self.framing.neutral
        self.predict = predict or PredictSetting()
        self.delay = delay or DelayEstimate()
        self.method = method
        self._predictor = None  # engine.predict.predictor.PosePredictor, made when first on
        self.prediction: dict = {"setting": str(self.predict), "horizon_ms": 0.0}
        self._reset_requested = False
        self._frame_size: tuple[int, int] | None = None

    def request_reset(self) -> None:
        """Restart the normalization statistics (and the filter) at the next frame."""
        self._reset_requested = True

    def set_predict(self, setting: PredictSetting) -> None:
        """Predict by `setting` from the next frame on (the page's switch)."""
        self.predict = setting
        self.prediction = {**self.prediction, "setting": str(setting)}

    def _predicted(self, frame: LiveFrame, pose: np.ndarray, now: float) -> np.ndarray:
        if not self.predict.enabled:
            if self._predictor is not None:
                self._predictor.reset()
            self.prediction = {"setting": str(self.predict), "horizon_ms": 0.0}
            return pose
        if self._predictor is None:
            from engine.predict.predictor import PosePredictor

            self._predictor = PosePredictor(self.method)
        if frame.restart or frame.held or frame.mode == "none":
            self._predictor.reset()
            self.prediction = {"setting": str(self.predict), "horizon_ms": 0.0}
            return pose
        delay, source = self.delay.current(time.perf_counter())
        ahead = self.predict.requested_s(delay)
        if self.predict.mode == "auto" and ahead > 0:
            ahead += FILTER_LAG_MS / 1e3  # the filter's own lag, on top of the delay
        out = self._predictor(pose, now, ahead)
        stats = self._predictor.stats()
        frame.horizon_ms = float(stats["horizon_ms"])
        self.prediction = {"setting": str(self.predict), "delay_source": source,
                           "delay_ms": None if delay is None else round(delay * 1e3, 1),
                           **stats}
        return out

    def __call__(self, frame: LiveFrame) -> LiveFrame:
        now = frame.captured
        if self._reset_requested:
            self._reset_requested = False
            self.framing.reset()
            self.filter.reset()
            if self._predictor is not None:
                self._predictor.reset()
            log.info("normalization statistics restarted at frame %d", frame.index)
        h, w = frame.image.shape[:2]
        if self._frame_size != (w, h):
            self._frame_size = (w, h)
            self.scale, self.offset = fit_square((w, h), self.size)
        pose = frame.pose if frame.person and frame.pose is not None else missing_pose()
        steady = self.filter(pose, now)
        in_avatar = steady.copy()
        in_avatar[:, 0] = steady[:, 0] * self.scale[0] + self.offset[0]
        in_avatar[:, 1] = steady[:, 1] * self.scale[1] + self.offset[1]
        framed = self.framing(in_avatar, now)
        frame.mode, frame.restart, frame.held = framed.mode, framed.restart, framed.held
        frame.normalized = self._predicted(frame, framed.pose, now)
        frame.label, frame.face_box = label_and_face(frame.normalized, self.size)
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
