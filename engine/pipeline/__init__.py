"""The live pipeline: frames in, the avatar dancing out.

    source -> pose -> filter + online normalization + label map -> generator + face -> sink

Each stage is an async loop that pulls from a latest-frame-wins slot, runs its work in
an executor thread that owns the stage's models, and offers the result to the next
slot; a slow stage drops stale frames instead of building latency. `LivePipeline`
wires the stages, exposes rolling statistics and the controls (calibrate/reset, stop).
`steps.py` holds the per-frame work, also used by offline rendering and by the
sequential baseline.
"""

from engine.pipeline.frame import LiveFrame
from engine.pipeline.live import LivePipeline, PipelineConfig

__all__ = ["LiveFrame", "LivePipeline", "PipelineConfig"]
