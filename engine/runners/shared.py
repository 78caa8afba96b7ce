"""One model per GPU for every session on it: which backends share, and the registry.

On a GPU, a session's generator (and face model) is not its own: every session of the
process on that GPU submits its frames to one `Batcher` per model file, which runs
them as batches (`engine.runners.batching`). On CPU backends each session keeps its own
runner: batching gains nothing there (the demo generator on one thread: 14.4 ms a frame
at batch 1, 14.1 ms at batch 2), and sessions already run side by side on their cores.

* `batching_device(backend, device)`: the GPU a backend runs on when its sessions share
  batchers, else None: `torch` on CUDA (`device` "cuda", or "auto" where torch sees a
  GPU), `ort-cuda` and `trt`; never `ort-cpu`, `torch` on the CPU, or `ort-trt` (ONNX
  Runtime's TensorRT provider builds its own engines, without our batch profiles).
* `BatcherRegistry` (`SHARED`, process-wide): one started batcher per (GPU, backend,
  model file, backend options), counted per user and closed with its last one.
* `SharedRunner`: a session's `Runner` whose calls go through the registry's batcher, so
  model code (`AvatarRenderer`) runs unchanged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.runners.base import Runner, create_runner
from engine.runners.batching import DEFAULT_WINDOW_MS, Batcher, BatchSession

log = logging.getLogger(__name__)

GPU_BACKENDS = ("ort-cuda", "trt")  # always on a GPU; `torch` depends on its device
# Options that tune a runner's CPU threads: not part of what makes two models the same.
_THREAD_OPTIONS = ("threads", "spinning")


def _torch_sees_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def batching_device(backend: str, device: str = "auto",
                    cuda_available: Callable[[], bool] = _torch_sees_cuda) -> str | None:
    """The GPU (`cuda`, or `cuda:N` as given) that `backend` runs on when its sessions
    share one batcher per model; None where each session keeps its own runner.

    `device` is the torch backend's option (`auto`, `cpu`, `cuda`); the other backends
    ignore it. `cuda_available` resolves `auto` (torch's own check by default)."""
    if backend in GPU_BACKENDS:
        return "cuda"
    if backend != "torch":
        return None
    if device == "auto":
        return "cuda" if cuda_available() else None
    return device if device.startswith("cuda") else None


def uses_shared_batcher(backend: str, device: str = "auto",
                        cuda_available: Callable[[], bool] = _torch_sees_cuda) -> bool:
    """Whether sessions on `backend` (and the torch `device`) share batched models."""
    return batching_device(backend, device, cuda_available) is not None


class FrameSuperseded(InputError):
    """A newer frame of the same session replaced this one before it ran (only when one
    session calls from several threads at once); the frame is dropped."""


Key = tuple[str, str, str, tuple[tuple[str, str], ...]]


class BatcherRegistry:
    """One started batcher per (GPU, backend, model file, options), shared by sessions."""

    def __init__(self, window_ms: float = DEFAULT_WINDOW_MS, max_batch: int | None = None) -> None:
        self.window_ms = window_ms
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._batchers: dict[Key, tuple[Batcher, int]] = {}

    @staticmethod
    def key(gpu: str, backend: str, model: Path, options: dict[str, object]) -> Key:
        opts = tuple(sorted((k, repr(v)) for k, v in options.items()
                            if k not in _THREAD_OPTIONS))
        return gpu, backend, str(Path(model).resolve()), opts

    def acquire(self, gpu: str, backend: str, model: str | Path,
                **options: object) -> Batcher:
        """The batcher of this model on `gpu` (started on first use); `release` it."""
        key = self.key(gpu, backend, Path(model), options)
        with self._lock:  # held while a first batcher loads: others wait for that one
            if key in self._batchers:
                batcher, users = self._batchers[key]
                self._batchers[key] = (batcher, users + 1)
                return batcher
            batcher = Batcher(lambda: create_runner(backend, model, **options),
                              self.window_ms, self.max_batch,
                              name=f"{Path(model).stem}@{gpu}").start()
            self._batchers[key] = (batcher, 1)
            return batcher

    def release(self, batcher: Batcher) -> None:
        """One user fewer; the last one closes the batcher (and frees its model)."""
        with self._lock:
            for key, (known, users) in self._batchers.items():
                if known is batcher:
                    if users > 1:
                        self._batchers[key] = (known, users - 1)
                        return
                    del self._batchers[key]
                    break
            else:
                return
        batcher.close()

    def stats(self) -> list[dict]:
        """Every open batcher's statistics."""
        with self._lock:
            batchers = [b for b, _ in self._batchers.values()]
        return [b.stats() for b in batchers]

    def __len__(self) -> int:
        return len(self._batchers)


SHARED = BatcherRegistry()  # the process's batchers


class SharedRunner(Runner):
    """A session's runner for a model that the GPU's sessions share (see the module doc):
    `infer` waits for this frame's outputs from the registry's batcher."""

    def __init__(self, backend: str, model: str | Path, gpu: str,
                 registry: BatcherRegistry = SHARED, **options: object) -> None:
        """`gpu`: the device the batcher is shared on (`batching_device`); `options`: the
        backend's own, as for `create_runner`."""
        super().__init__()
        self.backend = backend
        self.model = Path(model)
        self.gpu = gpu
        self.registry = registry
        self.options = options
        self.batcher: Batcher | None = None
        self._session: BatchSession | None = None

    def _load(self) -> None:
        self.batcher = self.registry.acquire(self.gpu, self.backend, self.model,
                                             **self.options)
        self._session = self.batcher.session()
        self.inputs, self.outputs = list(self.batcher.inputs), list(self.batcher.outputs)

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outcome = self._session.submit(feed).result()
        if outcome.superseded:
            raise FrameSuperseded(f"a newer frame replaced this one in {self.batcher.name}")
        return outcome.outputs

    def _release(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
        if self.batcher is not None:
            self.registry.release(self.batcher)
            self.batcher = None


def open_shared_runner(backend: str, model: str | Path, device: str = "auto",
                       registry: BatcherRegistry = SHARED, **options: object) -> Runner:
    """A runner (not yet entered) for `model`: shared through `registry` where
    `uses_shared_batcher(backend, device)`, else the session's own."""
    if backend == "torch":
        options["device"] = device
    gpu = batching_device(backend, device)
    if gpu is None:
        return create_runner(backend, model, **options)
    return SharedRunner(backend, model, gpu, registry, **options)
