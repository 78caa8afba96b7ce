"""The export steps, each `ExportedModel -> ExportedModel` (or a source of one).

* `onnx_from_checkpoint(run, name, precision, opset, max_batch=1)`: the run's trained
  `generator` or `face` model, traced to ONNX with fixed shapes (batch 1), or with a
  dynamic batch axis (every other dimension fixed) when `max_batch` > 1, which the
  graph records in its metadata (`max_batch`) for the runners. fp16 keeps float32
  inputs and outputs and casts at the boundary, so callers never see the precision.
* `simplified(model)`: ONNX Runtime's basic (portable) offline graph optimizations:
  constant folding, redundant-node elimination.
* `checked(model)`: the ONNX checker (full check) and shape inference; every input and
  output must have a fixed shape (but for the batch axis of a `max_batch` > 1 export).
* `saved(model, folder)`: written atomically as `<name>.onnx`.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import onnx
import torch
from torch import nn

from engine.errors import InputError
from engine.runners.base import MAX_BATCH_KEY
from export.errors import ExportError

if TYPE_CHECKING:  # the training code loads only when a run is exported from disk
    from train.evaluate import TrainedModels

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")
DEFAULT_OPSET = 17
INPUT_NAMES = {"generator": ("label", "previous"), "face": ("label_crop", "image_crop")}
OUTPUT_NAMES = {"generator": ("frame",), "face": ("residual",)}
BATCH_AXIS = "batch"  # the name of the dynamic batch dimension


@dataclass(frozen=True)
class ExportedModel:
    """One model on its way to a bundle."""

    name: str  # generator | face
    onnx: onnx.ModelProto
    module: nn.Module  # the float32 torch module it came from (the parity reference)
    example: tuple[torch.Tensor, ...]  # inputs it was traced with
    precision: str
    opset: int
    steps: tuple[str, ...] = field(default_factory=tuple)  # what has been applied, in order
    path: Path | None = None  # where `saved` wrote it
    max_batch: int = 1  # > 1: a dynamic batch axis, for batches up to this size

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.onnx.graph.input]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.onnx.graph.output]


class _TemporalGenerator(nn.Module):
    """(label, previous) -> frame; gives the ONNX graph its fixed input names."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, label: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return self.generator(label, previous)


class _SingleFrameGenerator(nn.Module):
    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, label: torch.Tensor) -> torch.Tensor:
        return self.generator(label)


class _Half(nn.Module):
    """Runs `module` in float16 with float32 inputs and outputs."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.module(*(x.half() for x in inputs)).float()


def reference_modules(models: TrainedModels) -> dict[str, tuple[nn.Module, tuple]]:
    """name -> (float32 module with named inputs, example inputs) for every trained model."""
    cfg = models.generator.config
    r = cfg.resolution
    image = torch.zeros(1, cfg.image_channels, r, r)
    label = torch.zeros(1, cfg.label_channels, r, r)
    if cfg.temporal:
        out = {"generator": (_TemporalGenerator(models.generator).eval(), (label, image))}
    else:
        out = {"generator": (_SingleFrameGenerator(models.generator).eval(), (label,))}
    if models.face is not None:
        c = models.face.config.crop
        out["face"] = (models.face.eval(), (torch.zeros(1, cfg.label_channels, c, c),
                                            torch.zeros(1, cfg.image_channels, c, c)))
    return out


def onnx_from_checkpoint(run: str | os.PathLike[str], name: str = "generator",
                         precision: str = "fp32", opset: int = DEFAULT_OPSET,
                         modules: dict | None = None, max_batch: int = 1) -> ExportedModel:
    """The run's model `name` as an ONNX graph in `precision` (see the module docstring)."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not 13 <= opset <= 21:
        raise InputError(f"opset must be within 13..21, got {opset}")
    if max_batch < 1:
        raise InputError(f"the largest batch must be at least 1, got {max_batch}")
    if modules is None:
        from train.evaluate import load_run

        modules = reference_modules(load_run(run))
    if name not in modules:
        raise InputError(f"run {run} has no {name} model (train the {name} stage first)")
    module, example = modules[name]
    traced: nn.Module = module
    if precision == "fp16":
        half = copy.deepcopy(module).half()
        traced = _Half(half).eval()
    names = INPUT_NAMES[name][:len(example)]
    axes = ({n: {0: BATCH_AXIS} for n in names + OUTPUT_NAMES[name]} if max_batch > 1
            else None)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about constant shapes
        torch.onnx.export(traced, example, buf, dynamo=False, opset_version=opset,
                          input_names=list(names), output_names=list(OUTPUT_NAMES[name]),
                          do_constant_folding=True, dynamic_axes=axes)
    model = onnx.load_from_string(buf.getvalue())
    if max_batch > 1:
        onnx.helper.set_model_props(model, {MAX_BATCH_KEY: str(max_batch)})
    return ExportedModel(name, model, module, example, precision, opset, ("onnx",),
                         max_batch=max_batch)


def simplified(model: ExportedModel) -> ExportedModel:
    """ONNX Runtime's portable (basic) graph optimizations, applied offline."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "simplified.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(out)
        ort.InferenceSession(model.onnx.SerializeToString(), opts,
                             providers=["CPUExecutionProvider"])
        simple = onnx.load(str(out))
    before, after = len(model.onnx.graph.node), len(simple.graph.node)
    log.debug("%s: %d -> %d nodes after simplification", model.name, before, after)
    return replace(model, onnx=simple, steps=model.steps + ("simplified",))


def checked(model: ExportedModel) -> ExportedModel:
    """The ONNX checker and shape inference; all inputs and outputs of fixed shape."""
    try:
        onnx.checker.check_model(model.onnx, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{model.name}: the ONNX checker rejects the graph: {exc}") from exc
    for value in list(model.onnx.graph.input) + list(model.onnx.graph.output):
        dims = list(value.type.tensor_type.shape.dim)
        if model.max_batch > 1 and dims and dims[0].dim_param == BATCH_AXIS:
            dims = dims[1:]  # the dynamic batch axis asked for
        elif model.max_batch > 1:
            raise ExportError(f"{model.name}: {value.name} has no dynamic batch axis")
        if not dims or any(not d.HasField("dim_value") for d in dims):
            raise ExportError(f"{model.name}: {value.name} has no fixed shape")
    return replace(model, steps=model.steps + ("checked",))


def saved(model: ExportedModel, folder: str | os.PathLike[str]) -> ExportedModel:
    """`model` written atomically to `folder/<name>.onnx`."""
    path = Path(folder) / f"{model.name}.onnx"
    tmp = path.with_name(path.name + ".part")
    onnx.save(model.onnx, str(tmp))
    os.replace(tmp, path)
    return replace(model, path=path, steps=model.steps + ("saved",))


def shapes(model: ExportedModel) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(inputs, outputs) as name -> fixed shape (of one frame: a dynamic batch axis is 1)."""
    def dims(values) -> dict[str, list[int]]:  # noqa: ANN001 - onnx ValueInfo list
        return {v.name: [d.dim_value if d.HasField("dim_value") else 1
                         for d in v.type.tensor_type.shape.dim] for v in values}
    return dims(model.onnx.graph.input), dims(model.onnx.graph.output)
