"""The `torch` backend: a bundle's `torch.export` program, eager or compiled, CPU or CUDA.

Options (keyword arguments of `create_runner("torch", path, ...)`):

* `device`: `cpu`, `cuda`, or `auto` (CUDA when torch sees a GPU; the default);
* `precision`: `fp32` or `fp16` (fp16 only on CUDA; inputs and outputs stay float32);
* `compile`: run the program through `torch.compile`;
* `max_batch`: the largest batch taken by a program exported with a dynamic batch axis
  (`dancenow export --max-batch N`; default and upper bound: the N it was exported with).
  Compiled, it takes the powers of two up to that (each size compiles once).

Outputs are copied into numpy buffers allocated once per batch size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.errors import BackendUnavailable, InputError
from engine.runners.base import Runner, TensorSpec, batch_sizes_up_to, register

# {"inputs": [...], "outputs": [...], "max_batch": N (only with a dynamic batch axis)}
NAMES_FILE = "dancenow_names.json"


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, model: Path, device: str = "auto", precision: str = "fp32",
                 compile: bool = False,  # noqa: A002 - mirrors torch.compile
                 max_batch: int | None = None) -> None:
        super().__init__()
        if precision not in ("fp32", "fp16"):
            raise InputError(f"torch precision must be fp32 or fp16, got {precision!r}")
        if device not in ("auto", "cpu", "cuda"):
            raise InputError(f"torch device must be auto, cpu or cuda, got {device!r}")
        self.model = Path(model)
        self.device_name = device
        self.precision = precision
        self.compile = compile
        self.max_batch = max_batch

    def _load(self) -> None:
        import torch

        if self.model.suffix != ".pt2":
            raise InputError(f"the torch backend runs torch.export programs (.pt2), got "
                             f"{self.model.name}")
        device = self.device_name
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailable("backend torch on cuda needs an NVIDIA GPU and a CUDA "
                                     "build of torch")
        if self.precision == "fp16" and device != "cuda":
            raise InputError("torch fp16 runs on cuda only")
        self.device = torch.device(device)
        extra = {NAMES_FILE: ""}
        try:
            program = torch.export.load(str(self.model), extra_files=extra)
            names = json.loads(extra[NAMES_FILE])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise InputError(f"cannot load torch program {self.model}: {exc}") from exc
        example_args = program.example_inputs[0]
        module = program.module().to(self.device)
        self.dtype = torch.float16 if self.precision == "fp16" else torch.float32
        module = module.to(self.dtype)
        self.module = torch.compile(module) if self.compile else module
        exported_max = int(names.get("max_batch", 1))
        batch = 1 if exported_max > 1 else None
        self.inputs = [TensorSpec(n, _one_frame(a.shape, batch), np.dtype(np.float32))
                       for n, a in zip(names["inputs"], example_args, strict=True)]
        if exported_max > 1:
            largest = min(self.max_batch or exported_max, exported_max)
            self.batch_sizes = batch_sizes_up_to(largest, powers_of_two=self.compile)
        with torch.no_grad():
            out = self.module(*(torch.zeros(s.shape, dtype=self.dtype, device=self.device)
                                for s in self.inputs))
        outs = out if isinstance(out, tuple) else (out,)
        self._output_names = list(names["outputs"])
        self.outputs = [TensorSpec(n, tuple(o.shape), np.dtype(np.float32))
                        for n, o in zip(self._output_names, outs, strict=True)]
        self._buffers: dict[int, dict[str, np.ndarray]] = {}
        self._buffers_for(batch)
        self._torch = torch

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        args = [torch.from_numpy(feed[s.name]).to(self.device, self.dtype, non_blocking=True)
                for s in self.inputs]
        with torch.no_grad():
            out = self.module(*args)
        outs = out if isinstance(out, tuple) else (out,)
        buffers = self._buffers_for(int(args[0].shape[0]) if self.batch_sizes else None)
        for name, o in zip(self._output_names, outs, strict=True):
            buffers[name][...] = o.float().cpu().numpy()
        return buffers

    def _buffers_for(self, batch: int | None) -> dict[str, np.ndarray]:
        """The output buffers of one batch size (allocated on its first call)."""
        key = batch or 0
        if key not in self._buffers:
            self._buffers[key] = {s.name: np.empty(_one_frame(s.shape, batch), np.float32)
                                  for s in self.outputs}
        return self._buffers[key]

    def _release(self) -> None:
        self.module = None

    @classmethod
    def unavailable(cls) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "needs torch (`pip install torch`)"
        return None


def _one_frame(shape: tuple[int, ...], batch: int | None) -> tuple[int, ...]:
    """`shape` with its leading dimension set to `batch` (unchanged for None)."""
    shape = tuple(int(d) for d in shape)
    return shape if batch is None else (batch, *shape[1:])


def _factory(model: Path, **options: object) -> Runner:
    return TorchRunner(model, **options)  # type: ignore[arg-type]


_factory.unavailable = TorchRunner.unavailable  # type: ignore[attr-defined]
_factory.model_kind = "torch"  # type: ignore[attr-defined]
register("torch")(_factory)
