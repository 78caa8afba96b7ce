"""The `trt` backend: a native TensorRT engine built from the ONNX file, cached per GPU.

* Building: TensorRT's ONNX parser, a strongly typed network wherever TensorRT has them
  (the engine computes in the graph's own precision; `engine.runners.trt_api` decides per
  API generation, 10.x and 11.x alike), a timing cache kept beside the engines (so
  rebuilding after a change is quick); fixed shapes, except a dynamic batch axis, which
  gets an optimization profile of batches 1..`max_batch` tuned for `opt_batch`
  (`trt_api.batch_profile`).
* Cache: `<model folder>/engines/<gpu>-sm<cc>-trt<version>/` holds
  `<name>-<onnx sha256[:16]>-<precision>[-b<min>-<opt>-<max>].engine`, so a new ONNX
  file, another GPU, another TensorRT version or another batch profile builds anew and
  nothing stale is ever loaded.
* Running: device buffers allocated once (for the largest batch), its own CUDA stream,
  host <-> device copies on that stream, and the engine's enqueue replayed as a CUDA
  graph after the first call (of each batch size) when capture succeeds (it falls back
  to plain enqueues otherwise). With a batch profile the input shapes are set per call;
  with CUDA graphs on, the runner takes the powers of two up to the largest batch (one
  graph each; callers pad to the next), without them every size.

Uses TensorRT's Python API (`tensorrt` 10.x or 11.x; older ones with weak typing) and
cuda-python's runtime API (`cuda.bindings.runtime`, or `cuda.cudart` before 12.6.1).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from engine.errors import InputError
from engine.runners.base import (
    DEFAULT_MAX_BATCH,
    Runner,
    TensorSpec,
    batch_sizes_up_to,
    register,
)
from engine.runners.trt_api import (
    PRECISIONS,
    BatchProfile,
    TrtApi,
    batch_profile,
    dynamic_batch_inputs,
    graph_precision,
    plan_build,
)

log = logging.getLogger(__name__)

WORKSPACE_BYTES = 2 << 30


def _tensorrt():
    import tensorrt

    return tensorrt


def _cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        from cuda import cudart  # older cuda-python
    return cudart


def _check(result: tuple) -> object:
    """cuda-python returns (error, value...); raise on an error, return the value(s)."""
    err, *values = result
    cudart = _cudart()
    if err != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error: {cudart.cudaGetErrorString(err)[1].decode()}")
    return values[0] if len(values) == 1 else tuple(values) or None


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    major: int
    minor: int


def current_device() -> DeviceInfo:
    cudart = _cudart()
    device = _check(cudart.cudaGetDevice())
    props = _check(cudart.cudaGetDeviceProperties(device))
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return DeviceInfo(name.rstrip("\x00"), int(props.major), int(props.minor))


def cache_folder(model: Path, device: DeviceInfo, trt_version: str) -> Path:
    """`engines/<gpu>-sm<cc>-trt<version>/` beside the model (names made path-safe)."""
    gpu = re.sub(r"[^A-Za-z0-9.]+", "-", device.name).strip("-").lower()
    return model.parent / "engines" / f"{gpu}-sm{device.major}{device.minor}-trt{trt_version}"


def engine_path(model: Path, device: DeviceInfo, trt_version: str, precision: str,
                profile: BatchProfile | None = None) -> Path:
    from engine.avatar import file_sha256

    digest = file_sha256(model)[:16]
    batch = f"-{profile.tag}" if profile is not None else ""
    return (cache_folder(model, device, trt_version)
            / f"{model.stem}-{digest}-{precision}{batch}.engine")


@dataclass(frozen=True)
class BuiltEngine:
    """An engine on disk and how it came to be (`seconds` is 0 when it was cached)."""

    path: Path
    seconds: float
    precision: str
    trt_version: str
    generation: str  # TrtApi.generation of the TensorRT that built it
    device: DeviceInfo
    profile: BatchProfile | None = None  # batch sizes of a dynamic batch axis

    def describe(self) -> str:
        made = f"built in {self.seconds:.1f} s" if self.seconds else "cached"
        typing = "weakly typed" if self.generation == "weak" else "strongly typed"
        batch = (f", batches {self.profile.min}-{self.profile.max} (tuned for "
                 f"{self.profile.opt})" if self.profile is not None else "")
        return (f"{self.precision} engine ({typing}{batch}), TensorRT {self.trt_version}, "
                f"{self.device.name} (sm{self.device.major}{self.device.minor}), {made}: "
                f"{self.path}")


def _parse(trt: ModuleType, api: TrtApi, model: Path, logger: object) -> tuple:
    builder = trt.Builder(logger)
    network = builder.create_network(api.network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InputError(f"TensorRT cannot parse {model}: {errors}")
    return builder, network, parser


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def build_engine(model: Path, precision: str = "auto", force: bool = False,
                 max_batch: int = DEFAULT_MAX_BATCH,
                 opt_batch: int | None = None) -> BuiltEngine:
    """Build (or find) the engine for `model` on this GPU in `precision` ("auto": the
    graph's own; see engine.runners.trt_api for what each TensorRT generation allows).
    A graph with a dynamic batch axis gets the profile `batch_profile(max_batch,
    opt_batch)`; `max_batch` and `opt_batch` mean nothing for a graph of fixed shapes."""
    trt = _tensorrt()
    api = TrtApi.of(trt)
    device = current_device()
    logger = trt.Logger(trt.Logger.WARNING)
    builder, network, _parser = _parse(trt, api, model, logger)
    plan = plan_build(api, graph_precision(trt, network), precision)
    batched = dynamic_batch_inputs(network)
    profile = batch_profile(max_batch, opt_batch) if batched else None
    path = engine_path(model, device, api.version, plan.precision, profile)
    if path.is_file() and not force:
        return BuiltEngine(path, 0.0, plan.precision, api.version, api.generation, device,
                           profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if profile is not None:
        shapes = builder.create_optimization_profile()
        for name, shape in batched:
            shapes.set_shape(name, *profile.shapes(shape))
        config.add_optimization_profile(shapes)
    if plan.fp16_flag:
        if not getattr(builder, "platform_has_fast_fp16", True):
            log.warning("this GPU has no fast fp16; TensorRT may still choose fp32 kernels")
        config.set_flag(trt.BuilderFlag.FP16)
    timing_path = path.parent / "timing.cache"
    cache = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file()
                                       else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    start = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {model}")
    _write_atomically(path, bytes(serialized))
    _write_atomically(timing_path, bytes(config.get_timing_cache().serialize()))
    built = BuiltEngine(path, seconds, plan.precision, api.version, api.generation, device,
                        profile)
    log.info("%s", built.describe())
    return built


class TrtRunner(Runner):
    backend = "trt"

    def __init__(self, model: Path, precision: str = "auto", cuda_graph: bool = True,
                 max_batch: int = DEFAULT_MAX_BATCH, opt_batch: int | None = None) -> None:
        """`max_batch`, `opt_batch`: the batch profile of a graph with a dynamic batch
        axis (see `build_engine`)."""
        super().__init__()
        if precision not in PRECISIONS:
            raise InputError(f"trt precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {precision!r}")
        self.model = Path(model)
        self.precision = precision
        self.use_graph = cuda_graph
        self.max_batch = max_batch
        self.opt_batch = opt_batch
        self.build_seconds = 0.0

    def _load(self) -> None:
        trt, cudart = _tensorrt(), _cudart()
        self.built = build_engine(self.model, self.precision, max_batch=self.max_batch,
                                  opt_batch=self.opt_batch)
        self.build_seconds = self.built.seconds
        path = self.built.path
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT cannot load the cached engine {path}; delete it to "
                               "rebuild")
        self.context = self.engine.create_execution_context()
        self.stream = _check(cudart.cudaStreamCreate())
        profile = self.built.profile
        if profile is not None:
            self.batch_sizes = batch_sizes_up_to(profile.max, powers_of_two=self.use_graph)
        largest = profile.max if profile is not None else None
        self._device: dict[str, int] = {}
        self._host: dict[str, np.ndarray] = {}  # sized for the largest batch
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(int(d) for d in self.engine.get_tensor_shape(name))
            if largest is not None:
                shape = (1, *shape[1:])  # specs give one frame; the batch varies
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            (self.inputs if is_input else self.outputs).append(TensorSpec(name, shape, dtype))
            host = np.empty(shape if largest is None else (largest, *shape[1:]), dtype)
            self._host[name] = host
            self._device[name] = _check(cudart.cudaMalloc(host.nbytes))
            self.context.set_tensor_address(name, self._device[name])
        self._graphs: dict[int, object] = {}  # batch size -> CUDA graph exec
        self._calls: dict[int, int] = {}  # batch size -> eager enqueues so far
        self._shape_batch: int | None = None  # the batch the context's shapes are set for

    def _copy(self, dst: int, src: int, nbytes: int, kind: object) -> None:
        _check(_cudart().cudaMemcpyAsync(dst, src, nbytes, kind, self.stream))

    def _set_batch(self, batch: int) -> None:
        """Input shapes for `batch` frames (a batch profile only; nothing when unchanged)."""
        if self.built.profile is None or self._shape_batch == batch:
            return
        for spec in self.inputs:
            if not self.context.set_input_shape(spec.name, (batch, *spec.shape[1:])):
                raise RuntimeError(f"TensorRT refuses batch {batch} for {spec.name}")
        self._shape_batch = batch

    def _enqueue(self, batch: int) -> None:
        cudart = _cudart()
        if batch in self._graphs:
            _check(cudart.cudaGraphLaunch(self._graphs[batch], self.stream))
            return
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT enqueue failed")
        self._calls[batch] = self._calls.get(batch, 0) + 1
        if self.use_graph and self._calls[batch] == 1:
            self._capture_graph(batch)

    def _capture_graph(self, batch: int) -> None:
        """Record one enqueue of `batch` frames as a CUDA graph (the first call already
        ran eagerly, with the input shapes of that batch)."""
        cudart = _cudart()
        _check(cudart.cudaStreamSynchronize(self.stream))
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        _check(cudart.cudaStreamBeginCapture(self.stream, mode))
        ok = self.context.execute_async_v3(self.stream)
        graph = _check(cudart.cudaStreamEndCapture(self.stream))
        if not ok:
            log.info("this engine cannot be captured as a CUDA graph; enqueuing each call")
            self.use_graph = False
            return
        self._graphs[batch] = _check(cudart.cudaGraphInstantiate(graph, 0))

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        cudart = _cudart()
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        batch = int(next(iter(feed.values())).shape[0]) if self.batch_sizes else 0
        self._set_batch(batch)
        for spec in self.inputs:
            arr = feed[spec.name]
            self._copy(self._device[spec.name], arr.ctypes.data, arr.nbytes, h2d)
        self._enqueue(batch)
        out = {}
        for spec in self.outputs:
            host = self._host[spec.name][:batch] if batch else self._host[spec.name]
            self._copy(host.ctypes.data, self._device[spec.name], host.nbytes, d2h)
            out[spec.name] = host
        _check(cudart.cudaStreamSynchronize(self.stream))
        return out

    def _release(self) -> None:
        cudart = _cudart()
        for graph in self._graphs.values():
            cudart.cudaGraphExecDestroy(graph)
        for ptr in self._device.values():
            cudart.cudaFree(ptr)
        cudart.cudaStreamDestroy(self.stream)
        self.context = self.engine = None

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            _tensorrt()
        except ImportError:
            return "needs NVIDIA TensorRT (`pip install tensorrt`) and an NVIDIA GPU"
        try:
            _cudart()
        except ImportError:
            return "needs cuda-python (`pip install cuda-python`)"
        try:
            current_device()
        except RuntimeError as exc:
            return f"no usable CUDA device ({exc})"
        return None


def _factory(model: Path, **options: object) -> Runner:
    return TrtRunner(model, **options)  # type: ignore[arg-type]


_factory.unavailable = TrtRunner.unavailable  # type: ignore[attr-defined]
register("trt")(_factory)
