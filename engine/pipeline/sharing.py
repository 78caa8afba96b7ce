"""A session's renderer: its own models on a CPU, the GPU's shared batched models on a GPU.

`open_renderer` gives the `AvatarRenderer` the live pipeline's render and finish stages
use. Where `engine.runners.shared.uses_shared_batcher` says so (`torch` on CUDA,
`ort-cuda`, `trt`), its generator and face model are `SharedRunner`s: every session of
the process on that GPU submits its frames to one batcher per model file. The renderer
keeps each session's own state (its previous frame, its face box), so the computation
per session is the same; on CPU backends nothing changes.
"""

from __future__ import annotations

from engine.avatar import AvatarBundle
from engine.renderer import AvatarRenderer
from engine.runners.base import model_kind
from engine.runners.shared import SHARED, BatcherRegistry, SharedRunner, batching_device


def open_renderer(bundle: AvatarBundle, backend: str, use_face: bool = True,
                  registry: BatcherRegistry = SHARED, **options: object) -> AvatarRenderer:
    """The renderer of one session (not yet entered; see the module doc)."""
    renderer = AvatarRenderer(bundle, backend, use_face=use_face, **options)
    gpu = batching_device(backend, str(options.get("device", "auto")))
    if gpu is None:
        return renderer
    # The renderer's own runners are only built, never loaded: the shared ones replace them.
    kind = model_kind(backend)
    renderer.generator = SharedRunner(backend, bundle.model_path("generator", kind), gpu,
                                      registry, **options)
    if renderer.face is not None:
        renderer.face = SharedRunner(backend, bundle.model_path("face", kind), gpu, registry,
                                     **options)
    return renderer


def batching_stats(renderer: AvatarRenderer | None) -> list[dict] | None:
    """The statistics of the batchers a renderer's models share, or None when its models
    are its own."""
    if renderer is None:
        return None
    stats = [runner.batcher.stats() for runner in (renderer.generator, renderer.face)
             if isinstance(runner, SharedRunner) and runner.batcher is not None]
    return stats or None
