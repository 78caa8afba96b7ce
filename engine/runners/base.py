"""The `Runner` contract, per-call timing, and the backend registry."""

from __future__ import annotations

import abc
import functools
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from engine.errors import BackendUnavailable, InputError
from engine.timing import summarize_ms

RunnerUnavailable = BackendUnavailable  # the name the runners package exports
# The largest batch a runner of a model with a dynamic batch axis takes when neither the
# model nor the caller names one.
DEFAULT_MAX_BATCH = 16
MAX_BATCH_KEY = "max_batch"  # ONNX model metadata: the largest batch it was exported for


def cpu_threads(threads: int | None) -> int:
    """A CPU runner's thread count: `threads`, else $DANCENOW_THREADS, else every core."""
    return threads or int(os.environ.get("DANCENOW_THREADS", 0)) or os.cpu_count() or 1


def batch_sizes_up_to(largest: int, powers_of_two: bool = False) -> tuple[int, ...]:
    """1..largest, or only the powers of two up to it (and `largest` itself): the sizes a
    runner takes when each size costs something to prepare (a CUDA graph, a compiled
    program), so that a batch is padded up to the next one."""
    if largest < 1:
        raise InputError(f"the largest batch must be at least 1, got {largest}")
    if not powers_of_two:
        return tuple(range(1, largest + 1))
    sizes = {1 << k for k in range(largest.bit_length()) if 1 << k <= largest}
    return tuple(sorted(sizes | {largest}))


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


class CallTimes:
    """The last `keep` call durations of a runner, with percentiles in milliseconds."""

    def __init__(self, keep: int = 1000) -> None:
        self._seconds: deque[float] = deque(maxlen=keep)

    def add(self, seconds: float) -> None:
        self._seconds.append(seconds)

    def __len__(self) -> int:
        return len(self._seconds)

    def summary(self) -> dict[str, float]:
        if not self._seconds:
            return {"calls": 0}
        stats = summarize_ms(self._seconds)
        return {"calls": stats.pop("count"), **stats}


class Runner(abc.ABC):
    """Runs one model with fixed shapes. Use as a context manager:

        with create_runner("ort-cpu", "generator.onnx") as runner:
            out = runner.infer({"label": label, "previous": previous})

    `infer` returns arrays that the runner owns and overwrites on the next call: copy
    what must outlive it.

    Shapes are fixed, except the leading (batch) dimension of a model exported with a
    dynamic batch axis: `batch_sizes` then lists the batch sizes `infer` takes (the specs
    in `inputs` and `outputs` give one frame, batch 1). `batch_sizes` is None for a model
    of fixed shapes.
    """

    backend: str = "?"

    def __init__(self) -> None:
        self.times = CallTimes()
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self.batch_sizes: tuple[int, ...] | None = None
        self._loaded = False

    @abc.abstractmethod
    def _load(self) -> None:
        """Create the session / engine and allocate buffers; fills inputs and outputs."""

    @abc.abstractmethod
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call with checked inputs."""

    def _release(self) -> None:  # noqa: B027 - optional hook
        """Free the session / engine."""

    def __enter__(self) -> Runner:
        if not self._loaded:
            self._load()
            self._loaded = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._loaded:
            self._release()
            self._loaded = False

    def check_feed(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = {s.name for s in self.inputs}
        if set(feed) != names:
            raise InputError(f"{self.backend} runner expects inputs {sorted(names)}, got "
                             f"{sorted(feed)}")
        out = {}
        batch = None
        for spec in self.inputs:
            arr = np.asarray(feed[spec.name])
            if self.batch_sizes is None or arr.ndim == 0:
                expected = spec.shape
            else:
                batch = arr.shape[0] if batch is None else batch
                expected = (batch, *spec.shape[1:])
            if arr.shape != expected:
                raise InputError(f"input {spec.name!r} must have shape {list(expected)}, got "
                                 f"{list(arr.shape)}")
            out[spec.name] = np.ascontiguousarray(arr, dtype=spec.dtype)
        if batch is not None and batch not in self.batch_sizes:
            raise InputError(f"{self.backend} runner takes batches of "
                             f"{_sizes_text(self.batch_sizes)}, got {batch}")
        return out

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if not self._loaded:
            raise RuntimeError("use the runner inside a `with` block")
        checked = self.check_feed(feed)
        start = time.perf_counter()
        result = self._run(checked)
        self.times.add(time.perf_counter() - start)
        return result


def _sizes_text(sizes: tuple[int, ...]) -> str:
    if sizes == tuple(range(sizes[0], sizes[-1] + 1)) and len(sizes) > 2:
        return f"{sizes[0]} to {sizes[-1]}"
    return ", ".join(map(str, sizes))


RunnerFactory = Callable[..., Runner]  # (model path, **backend options) -> Runner
_REGISTRY: dict[str, RunnerFactory] = {}


def register(name: str) -> Callable[[RunnerFactory], RunnerFactory]:
    def deco(factory: RunnerFactory) -> RunnerFactory:
        _REGISTRY[name] = factory
        return factory
    return deco


def _load_backends() -> None:
    # Each module registers its backends; none imports its runtime until a runner loads.
    from engine.runners import ort_runner, ov_runner, torch_runner, trt_runner  # noqa: F401


def available_backends() -> dict[str, str | None]:
    """backend -> None when usable here, else why not."""
    _load_backends()
    status = {}
    for name, factory in _REGISTRY.items():
        check = getattr(factory, "unavailable", None)
        status[name] = check() if check else None
    return status


AUTO = "auto"  # the fastest CPU backend here (see `resolve_backend`)


@functools.cache
def _best_cpu_backend() -> str:
    from engine.runners.ov_runner import OpenVinoRunner

    return "ov-cpu" if OpenVinoRunner.unavailable() is None else "ort-cpu"


def resolve_backend(backend: str) -> str:
    """`backend`, or for `auto` the CPU backend that runs the models fastest: `ov-cpu`
    where OpenVINO is installed and has this CPU, else `ort-cpu`. On a 2-core Xeon with
    AMX, one thread: OpenVINO in bfloat16 ran the generator, the face and the pose models
    in about half ONNX Runtime's time, and even in float32 10-20% faster (README)."""
    if backend != AUTO:
        return backend
    _load_backends()
    return _best_cpu_backend()


def model_kind(backend: str) -> str:
    """The model file a backend runs: `onnx`, or `torch` (a torch.export program)."""
    _load_backends()
    backend = resolve_backend(backend)
    if backend not in _REGISTRY:
        raise InputError(f"unknown backend {backend!r}; choose from {', '.join(_REGISTRY)}")
    return getattr(_REGISTRY[backend], "model_kind", "onnx")


def create_runner(backend: str, model: str | Path, **options: object) -> Runner:
    """A runner for `model` on `backend` (enter it with `with` to load).

    `options` are the backend's own (e.g. `threads` for ort-* and ov-cpu, `device`,
    `precision` and `compile` for torch); `auto` picks a CPU backend (`resolve_backend`)."""
    _load_backends()
    backend = resolve_backend(backend)
    try:
        factory = _REGISTRY[backend]
    except KeyError:
        raise InputError(f"unknown backend {backend!r}; choose from "
                         f"{', '.join(_REGISTRY)}") from None
    why = getattr(factory, "unavailable", lambda: None)()
    if why:
        raise RunnerUnavailable(f"backend {backend} is not available here: {why}")
    path = Path(model)
    if not path.is_file():
        raise InputError(f"model not found: {path}")
    return factory(path, **options)
