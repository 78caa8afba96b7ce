"""What one live session's frames cost on this machine, measured.

`measure_pipeline_ms` runs a pipeline's own steps (pose, label, render, finish) one
after another on the frames it is given (a performer dancing), each model on one thread,
and returns the median milliseconds per frame per stage: CPU time, since one thread
does all the work. The server turns this (with its codecs' cost) into how many sessions
the machine can keep at a given frame rate (`server.capacity`).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time

import numpy as np

from engine.avatar import AvatarBundle
from engine.pipeline.frame import LiveFrame
from engine.pipeline.live import LivePipeline, PipelineConfig

log = logging.getLogger(__name__)
WARMUP_FRAMES = 5


def measure_pipeline_ms(bundle: AvatarBundle, config: PipelineConfig,
                        frames: list[np.ndarray]) -> dict[str, float]:
    """Median ms per frame of each stage, every model on one thread and nothing pinned,
    after a few frames of warm-up; `total` is their sum."""
    if len(frames) <= WARMUP_FRAMES:
        raise ValueError(f"need more than {WARMUP_FRAMES} frames to time, got {len(frames)}")
    single = dataclasses.replace(config, pin_threads=False, pose_threads=1, render_threads=1,
                                 cpus=None)
    per_stage: dict[str, list[float]] = {}
    with LivePipeline(bundle, single) as pipe:
        for i, image in enumerate(frames):
            frame = LiveFrame(i, image, captured=time.perf_counter())
            for name, step in pipe.steps.items():
                start = time.perf_counter()
                step(frame)
                if i >= WARMUP_FRAMES:
                    per_stage.setdefault(name, []).append(time.perf_counter() - start)
    stages = {name: statistics.median(times) * 1e3 for name, times in per_stage.items()}
    stages["total"] = sum(stages.values())
    return stages
