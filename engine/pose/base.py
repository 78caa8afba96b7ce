"""The `PoseEstimator` interface and the registry of pose backends."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType

import numpy as np

from engine.errors import InputError


class PoseEstimator(abc.ABC):
    """Estimates one person's pose per frame.

    `estimate(frame)` takes an HxWx3 uint8 RGB frame and returns float32 `[33, 3]`:
    x and y in pixels of that frame and a visibility in 0..1; NaN coordinates (with
    visibility 0) where nothing is found. In video mode an estimator tracks the person
    from frame to frame, so frames must come in order; in static mode each frame is
    independent. Estimators are context managers that release their model on exit.

    With several people in view, an estimator follows one of them. The ONNX backend
    (`BlazePoseRunners`, the live default) locks on the largest and most central person
    and stays on them until `relock()`; see `engine.pose.lock`.
    """

    def __init__(self, video: bool = True) -> None:
        self.video = video

    @abc.abstractmethod
    def estimate(self, frame: np.ndarray) -> np.ndarray:
        """The pose in `frame` (see the class docstring)."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget tracking state (the next frame is treated as the first)."""

    def relock(self) -> None:  # noqa: B027 - optional hook
        """Choose the person to follow again, as at the start (the page's Calibrate/reset).

        Safe to call from another thread than `estimate`'s: it takes effect at the next
        frame. A no-op where a backend cannot choose among people."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @staticmethod
    def check_frame(frame: np.ndarray) -> np.ndarray:
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(f"a frame must be HxWx3 uint8 RGB, got {frame.dtype} "
                             f"{list(frame.shape)}")
        return np.ascontiguousarray(frame)


def _mediapipe(video: bool) -> PoseEstimator:
    from engine.pose.mediapipe_backend import MediaPipePose

    return MediaPipePose(video=video)


_BACKENDS: dict[str, Callable[[bool], PoseEstimator]] = {"mediapipe": _mediapipe}


def estimator_names() -> list[str]:
    """`mediapipe`, then every Runner backend that runs ONNX (BlazePose converted), and
    `auto` (the fastest CPU one here: `engine.runners.base.resolve_backend`)."""
    from engine.runners.base import _REGISTRY, AUTO, _load_backends, model_kind

    _load_backends()
    return list(_BACKENDS) + [b for b in _REGISTRY if model_kind(b) == "onnx"] + [AUTO]


def create_estimator(backend: str = "mediapipe", video: bool = True,
                     **options: object) -> PoseEstimator:
    """A pose estimator: `mediapipe`, or BlazePose's ONNX models on a Runner backend
    (`ort-cpu`, `ort-cuda`, `ort-trt`, `ov-cpu`, `trt`, or `auto`: the fastest CPU one
    here); `options` go to that estimator."""
    if backend in _BACKENDS:
        return _BACKENDS[backend](video)
    if backend not in estimator_names():
        raise InputError(f"unknown pose backend {backend!r}; choose from "
                         f"{', '.join(estimator_names())}")
    from engine.pose.blazepose import BlazePoseRunners

    return BlazePoseRunners(backend, video=video, **options)
