"""ONNX Runtime runners: `ort-cpu`, `ort-cuda`, `ort-trt` (execution providers).

Outputs are bound once to preallocated numpy buffers (IOBinding), inputs are bound
per call without copying. A model exported with a dynamic batch axis (`dancenow export
--max-batch N`) takes batches of 1 to `max_batch` (the runner's option, else the N the
model records in its metadata, else `DEFAULT_MAX_BATCH`), each size with buffers and a
binding of its own, made on its first call.

`ort-trt` keeps TensorRT's engine and timing caches next to the model (under
`engines/ort-trt/`) and passes no precision option: given none, ONNX Runtime's TensorRT
provider builds a strongly typed network (since ONNX Runtime 1.18 with TensorRT 9.2+,
microsoft/onnxruntime#18707), so an fp16 bundle runs in fp16, and a provider built
against TensorRT 11 (ONNX Runtime 1.27+), which has no weak typing left, gets no option
that assumes it (`trt_fp16_enable`, `trt_int8_enable`, `trt_bf16_enable`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runners.base import (
    DEFAULT_MAX_BATCH,
    MAX_BATCH_KEY,
    Runner,
    TensorSpec,
    batch_sizes_up_to,
    cpu_threads,
    register,
)

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8}


def _ort():
    import onnxruntime

    return onnxruntime


class OrtRunner(Runner):
    provider = "CPUExecutionProvider"

    def __init__(self, model: Path, threads: int | None = None, spinning: bool = True,
                 max_batch: int | None = None) -> None:
        """`threads`: intra-op threads (default $DANCENOW_THREADS, else every core);
        `spinning=False` lets idle worker threads sleep instead of spinning, which matters
        when several runners share the cores (the live pipeline's stages); `max_batch`:
        the largest batch of a model with a dynamic batch axis (see the module doc)."""
        super().__init__()
        self.model = Path(model)
        self.max_batch = max_batch
        self.threads = cpu_threads(threads)
        self.spinning = spinning
        self.backend = {"CPUExecutionProvider": "ort-cpu", "CUDAExecutionProvider": "ort-cuda",
                        "TensorrtExecutionProvider": "ort-trt"}[self.provider]

    def provider_options(self) -> dict:
        return {}

    def _load(self) -> None:
        ort = _ort()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        if not self.spinning:
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = [(self.provider, self.provider_options())]
        if self.provider != "CPUExecutionProvider":
            providers.append(("CPUExecutionProvider", {}))
        self.session = ort.InferenceSession(str(self.model), opts, providers=providers)
        args = self.session.get_inputs() + self.session.get_outputs()
        dynamic = all(_batch_is_dynamic(a) for a in args)
        self.inputs = [self._spec(a, dynamic) for a in self.session.get_inputs()]
        self.outputs = [self._spec(a, dynamic) for a in self.session.get_outputs()]
        if dynamic:
            meta = self.session.get_modelmeta().custom_metadata_map
            largest = self.max_batch or int(meta.get(MAX_BATCH_KEY, DEFAULT_MAX_BATCH))
            self.batch_sizes = batch_sizes_up_to(largest)
        self._bound: dict[int, tuple[object, dict[str, np.ndarray]]] = {}
        self._binding_for(1 if dynamic else None)

    def _binding_for(self, batch: int | None) -> tuple[object, dict[str, np.ndarray]]:
        """The IOBinding and output buffers of one batch size (None: the fixed shapes)."""
        key = batch or 0
        if key not in self._bound:
            buffers = {s.name: np.empty(s.shape if batch is None else (batch, *s.shape[1:]),
                                        s.dtype) for s in self.outputs}
            binding = self.session.io_binding()
            for name, buf in buffers.items():
                binding.bind_output(name, "cpu", 0, buf.dtype, buf.shape, buf.ctypes.data)
            self._bound[key] = (binding, buffers)
        return self._bound[key]

    @staticmethod
    def _spec(arg, dynamic_batch: bool) -> TensorSpec:  # noqa: ANN001 - onnxruntime NodeArg
        shape = list(arg.shape)
        if dynamic_batch:
            shape[0] = 1  # the specs give one frame; batches vary the leading dimension
        if any(not isinstance(d, int) for d in shape):
            raise ValueError(f"{arg.name} has a dynamic shape {arg.shape}: export with fixed "
                             "shapes (only the batch axis may be dynamic)")
        return TensorSpec(arg.name, tuple(shape), np.dtype(_DTYPES[arg.type]))

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feed.values())).shape[0] if self.batch_sizes else None
        binding, buffers = self._binding_for(batch)
        for name, arr in feed.items():
            binding.bind_cpu_input(name, arr)
        self.session.run_with_iobinding(binding)
        return buffers

    def _release(self) -> None:
        self._bound = {}
        self.session = None

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            ort = _ort()
        except ImportError:
            return "needs `pip install onnxruntime` (or onnxruntime-gpu)"
        if cls.provider not in ort.get_available_providers():
            return (f"ONNX Runtime here has no {cls.provider}; it needs onnxruntime-gpu and an "
                    "NVIDIA GPU" + (" with TensorRT" if "Tensorrt" in cls.provider else ""))
        return None


def _batch_is_dynamic(arg) -> bool:  # noqa: ANN001 - onnxruntime NodeArg
    """Whether the leading dimension is symbolic and every other one fixed."""
    shape = list(arg.shape)
    return (len(shape) > 0 and not isinstance(shape[0], int)
            and all(isinstance(d, int) for d in shape[1:]))


class OrtCudaRunner(OrtRunner):
    provider = "CUDAExecutionProvider"


def tensorrt_provider_options(cache: Path) -> dict[str, object]:
    """TensorrtExecutionProvider options valid for providers built against TensorRT 10 and
    11: engine and timing caches in `cache`, precision from the graph (no weak typing)."""
    return {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True}


class OrtTensorrtRunner(OrtRunner):
    provider = "TensorrtExecutionProvider"

    def provider_options(self) -> dict:
        cache = self.model.parent / "engines" / "ort-trt"
        cache.mkdir(parents=True, exist_ok=True)
        return tensorrt_provider_options(cache)


for _name, _cls in (("ort-cpu", OrtRunner), ("ort-cuda", OrtCudaRunner),
                    ("ort-trt", OrtTensorrtRunner)):
    def _factory(model: Path, _cls: type[OrtRunner] = _cls, threads: int | None = None,
                 spinning: bool = True, max_batch: int | None = None) -> Runner:
        return _cls(model, threads=threads, spinning=spinning, max_batch=max_batch)

    _factory.unavailable = _cls.unavailable  # type: ignore[attr-defined]
    register(_name)(_factory)
