"""What machine a benchmark ran on, and how fast it was at the moment, for the results
files.

On a shared machine the speed drifts by a quarter from one minute to the next, more than
many differences worth measuring; `reference_ms` times a fixed piece of work (an avatar's
generator on one thread; each benchmark names the avatar in its results) so a result can
be read against the speed it ran at."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np

from engine.avatar import DEMO_AVATAR, load_bundle
from engine.renderer import AvatarRenderer
from engine.timing import cpu_model


def machine() -> dict[str, object]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "opencv": cv2.__version__, "platform": platform.platform()}


def reference_ms(avatar: str | Path = DEMO_AVATAR, calls: int = 20) -> float:
    """The avatar's generator alone on one ONNX Runtime thread: median ms per call."""
    bundle = load_bundle(avatar)
    with AvatarRenderer(bundle, "ort-cpu", use_face=False, threads=1) as renderer:
        label = np.zeros(renderer.shape, np.float32)
        times = []
        for i in range(calls + 3):
            start = time.perf_counter()
            renderer.generate(label)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000
