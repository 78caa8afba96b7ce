"""ONNX Runtime runners: `ort-cpu`, `ort-cuda`, `ort-trt` (execution providers).

Outputs are bound once to preallocated numpy buffers (IOBinding), inputs are bound
per call without copying. `ort-trt` keeps TensorRT's engine and timing caches next to the
model (under `engines/ort-trt/`) and passes no precision option: given none, ONNX
Runtime's TensorRT provider builds a strongly typed network (since ONNX Runtime 1.18 with
TensorRT 9.2+, microsoft/onnxruntime#18707), so an fp16 bundle runs in fp16, and a
provider built against TensorRT 11 (ONNX Runtime 1.27+), which has no weak typing left,
gets no option that assumes it (`trt_fp16_enable`, `trt_int8_enable`, `trt_bf16_enable`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.runners.base import Runner, TensorSpec, register

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(uint8)": np.uint8}


def _ort():
    import onnxruntime

    return onnxruntime


class OrtRunner(Runner):
    provider = "CPUExecutionProvider"

    def __init__(self, model: Path, threads: int | None = None, spinning: bool = True) -> None:
        """`threads`: intra-op threads (default $DANCENOW_THREADS, else every core);
        `spinning=False` lets idle worker threads sleep instead of spinning, which matters
        when several runners share the cores (the live pipeline's stages)."""
        super().__init__()
        self.model = Path(model)
        self.threads = threads or int(os.environ.get("DANCENOW_THREADS", 0)) or os.cpu_count()
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
        self.inputs = [self._spec(a) for a in self.session.get_inputs()]
        self.outputs = [self._spec(a) for a in self.session.get_outputs()]
        self._buffers = {s.name: np.empty(s.shape, s.dtype) for s in self.outputs}
        self._binding = self.session.io_binding()
        for spec in self.outputs:
            buf = self._buffers[spec.name]
            self._binding.bind_output(spec.name, "cpu", 0, buf.dtype, buf.shape,
                                      buf.ctypes.data)

    @staticmethod
    def _spec(arg) -> TensorSpec:  # noqa: ANN001 - onnxruntime NodeArg
        if any(not isinstance(d, int) for d in arg.shape):
            raise ValueError(f"{arg.name} has a dynamic shape {arg.shape}: export with fixed "
                             "shapes")
        return TensorSpec(arg.name, tuple(arg.shape), np.dtype(_DTYPES[arg.type]))

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, arr in feed.items():
            self._binding.bind_cpu_input(name, arr)
        self.session.run_with_iobinding(self._binding)
        return self._buffers

    def _release(self) -> None:
        self._binding = None
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
                 spinning: bool = True) -> Runner:
        return _cls(model, threads=threads, spinning=spinning)

    _factory.unavailable = _cls.unavailable  # type: ignore[attr-defined]
    register(_name)(_factory)
