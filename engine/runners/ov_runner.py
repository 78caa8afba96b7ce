"""OpenVINO runner: `ov-cpu`, ONNX models on the CPU through Intel's OpenVINO Runtime.

On a CPU with bfloat16 matrix units (Intel AMX, or AVX-512 BF16) OpenVINO runs
convolutions in bfloat16 with float32 accumulation, about twice as fast as ONNX
Runtime's float32 kernels on the same cores; elsewhere it runs float32 (10-20% ahead of
ONNX Runtime on an AVX-512 Xeon). `precision`: `auto` (bf16 where the CPU has it, else
f32: set explicitly, so that no CPU gets OpenVINO's own default, which is f16 on ARM),
`bf16` or `f32`.

The runner asks OpenVINO for `threads` inference threads, one stream, latency first, and
no pinning of its own: with one thread (the live pipeline's pose stage) the inference
runs in the calling thread, which the pipeline pins. With more, OpenVINO's worker pool
is shared by the process, so a worker may keep the CPUs of the stage that started it. A model
with a dynamic batch axis is compiled once per batch size, on that size's first call,
for 1 to `max_batch` (as `ort-cpu` does; see `engine.runners.ort_runner`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.runners.base import (
    DEFAULT_MAX_BATCH,
    MAX_BATCH_KEY,
    Runner,
    TensorSpec,
    batch_sizes_up_to,
    cpu_threads,
    register,
)

PRECISIONS = ("auto", "bf16", "f32")


def _openvino():
    import openvino

    return openvino


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin runs bfloat16 here (AMX or AVX-512 BF16)."""
    core = _openvino().Core()
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoRunner(Runner):
    backend = "ov-cpu"

    def __init__(self, model: Path, threads: int | None = None, precision: str = "auto",
                 max_batch: int | None = None) -> None:
        """`threads`: inference threads (default $DANCENOW_THREADS, else every core);
        `precision`: see the module doc; `max_batch`: the largest batch of a model with a
        dynamic batch axis."""
        super().__init__()
        if precision not in PRECISIONS:
            raise InputError(f"ov-cpu precision must be one of {', '.join(PRECISIONS)}, got "
                             f"{precision!r}")
        self.model = Path(model)
        self.threads = cpu_threads(threads)
        self.precision = precision
        self.max_batch = max_batch

    def _config(self) -> dict[str, object]:
        return {"INFERENCE_NUM_THREADS": self.threads, "NUM_STREAMS": 1,
                "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False,
                "INFERENCE_PRECISION_HINT": self.resolved_precision()}

    def resolved_precision(self) -> str:
        """`bf16` or `f32`: the precision asked of OpenVINO (`auto` resolved here)."""
        if self.precision != "auto":
            return self.precision
        return "bf16" if cpu_has_bf16() else "f32"

    def _load(self) -> None:
        ov = _openvino()
        self._core = ov.Core()
        self._source = self._core.read_model(str(self.model))
        params = list(self._source.inputs) + list(self._source.outputs)
        shapes = [p.get_partial_shape() for p in params]
        dynamic = all(s.rank.is_static and len(s) > 0 and s[0].is_dynamic and s[1:].is_static
                      for s in shapes)
        if not dynamic and not all(s.is_static for s in shapes):
            name = next(p.get_any_name() for p, s in zip(params, shapes, strict=True)
                        if s.is_dynamic)
            raise ValueError(f"{name} has a dynamic shape: export with fixed shapes (only the "
                             "batch axis may be dynamic)")
        self.inputs = [_spec(p, dynamic) for p in self._source.inputs]
        self.outputs = [_spec(p, dynamic) for p in self._source.outputs]
        if dynamic:
            recorded = _metadata(self._source, MAX_BATCH_KEY)
            largest = self.max_batch or int(recorded or DEFAULT_MAX_BATCH)
            self.batch_sizes = batch_sizes_up_to(largest)
        self._requests: dict[int, object] = {}
        self._request_for(1 if dynamic else None)

    def _request_for(self, batch: int | None) -> object:
        """The compiled model's infer request for one batch size (None: fixed shapes)."""
        key = batch or 0
        if key not in self._requests:
            model = self._source
            if batch is not None:
                model = self._source.clone()
                model.reshape({p.get_any_name(): [batch, *s.shape[1:]]
                               for p, s in zip(model.inputs, self.inputs, strict=True)})
            compiled = self._core.compile_model(model, "CPU", self._config())
            self._requests[key] = compiled.create_infer_request()
        return self._requests[key]

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = next(iter(feed.values())).shape[0] if self.batch_sizes else None
        request = self._request_for(batch)
        # Shared outputs: views of the request's own buffers, overwritten by the next call.
        request.infer(feed, share_inputs=True, share_outputs=True)
        return {spec.name: request.get_tensor(spec.name).data for spec in self.outputs}

    def _release(self) -> None:
        self._requests = {}
        self._source = None
        self._core = None

    @staticmethod
    def unavailable() -> str | None:
        try:
            ov = _openvino()
        except ImportError:
            return "needs `pip install openvino`"
        if "CPU" not in ov.Core().available_devices:
            return "OpenVINO has no CPU device on this machine"
        return None


def _spec(port, dynamic_batch: bool) -> TensorSpec:  # noqa: ANN001 - openvino Output
    shape = port.get_partial_shape()
    dims = [1 if dynamic_batch and i == 0 else d.get_length() for i, d in enumerate(shape)]
    return TensorSpec(port.get_any_name(), tuple(dims),
                      np.dtype(port.get_element_type().to_dtype()))


def _metadata(model, key: str) -> str | None:  # noqa: ANN001 - openvino Model
    """An ONNX metadata value (OpenVINO keeps them in the model's runtime info under
    `framework`), or None."""
    path = ["framework", key]
    return model.get_rt_info(path).astype(str) if model.has_rt_info(path) else None


@register("ov-cpu")
def _factory(model: Path, threads: int | None = None, precision: str = "auto",
             max_batch: int | None = None) -> Runner:
    return OpenVinoRunner(model, threads=threads, precision=precision, max_batch=max_batch)


_factory.unavailable = OpenVinoRunner.unavailable  # type: ignore[attr-defined]
