"""The speed of an avatar bundle on this machine, for its report (`train.report`): pose,
generator and face model, one call per frame, timed as the runner benchmark times them
(`engine.timing.time_calls`)."""

from __future__ import annotations

import logging

import numpy as np

from engine.avatar import AvatarBundle, open_runner
from engine.errors import InputError
from engine.pose import create_estimator
from engine.runners.base import model_kind, resolve_backend
from engine.timing import time_calls, time_runner

log = logging.getLogger(__name__)
WARMUP = 5  # untimed calls before the timed ones


def measure_speed(bundle: AvatarBundle, frames: list[np.ndarray], backend: str = "ort-cpu",
                  calls: int = 50, warmup: int = WARMUP) -> dict[str, dict]:
    """p50/p95 ms per call of pose (on `frames`), the generator and the face model, timed
    as the runner benchmark times them (`engine.timing.time_calls`). Pose runs BlazePose
    on ONNX (`backend`, or ort-cpu when it runs torch programs), or mediapipe where the
    converted models are missing."""
    out: dict[str, dict] = {}
    backend = resolve_backend(backend)
    pose_backend = backend if model_kind(backend) == "onnx" else "ort-cpu"
    try:
        estimator = create_estimator(pose_backend, video=True)
    except InputError as exc:
        log.info("pose timed on mediapipe: %s", exc)
        pose_backend, estimator = "mediapipe", create_estimator("mediapipe", video=True)
    with estimator as est:
        stats = time_calls(lambda i: est.estimate(frames[i % len(frames)]), calls, warmup)
    out["pose"] = {**stats, "backend": pose_backend}
    for name in bundle.models:
        with open_runner(bundle, name, backend) as runner:
            stats = time_runner(runner, calls, warmup, np.random.default_rng(0))
        out[name] = {**stats, "backend": backend}
    return out


