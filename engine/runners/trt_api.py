"""What the installed TensorRT's Python API can do about precision, and the build plan for a
graph on it.

TensorRT's API changed generations under the same calls. Which one is installed is read
from the attributes the module has, never from its version string:

* `weak` (before 9.x): a network takes its precision from builder flags
  (`BuilderFlag.FP16`); it has no strongly typed networks.
* `strong-opt-in` (9.x and 10.x): `NetworkDefinitionCreationFlag.STRONGLY_TYPED` makes a
  network take every tensor's type from the graph; the weak flags are still there
  (deprecated since 10.12).
* `strong-only` (11.x): every network is strongly typed. `BuilderFlag.FP16` and the other
  precision flags, `Builder.platform_has_fast_fp16` and `EXPLICIT_BATCH` are gone;
  `STRONGLY_TYPED` is still accepted (and ignored).

(NVIDIA, "Migrating from TensorRT 10.x to 11.x", Python API reference:
https://docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-python-api-reference.html)

Wherever strong typing exists the network is built strongly typed, so an engine runs in
the precision the ONNX graph was exported in (an fp16 bundle carries fp16 inside, with
float32 at its boundary). Asking for another precision than the graph's is then an error
that says which export to use; only the `weak` generation still turns an fp32 graph into
an fp16 engine with the builder flag.

A graph exported with a dynamic batch axis (`dancenow export --max-batch N`) gets one
optimization profile covering batches of 1 to the largest (`batch_profile`): the same
`create_optimization_profile` / `set_shape` / `add_optimization_profile` calls in every
generation since 8.x.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import ModuleType

from engine.errors import InputError

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp16", "fp32")
GENERATIONS = ("weak", "strong-opt-in", "strong-only")


@dataclass(frozen=True)
class TrtApi:
    """The precision controls of one installed `tensorrt` module."""

    version: str
    has_strongly_typed: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED
    has_fp16_flag: bool  # BuilderFlag.FP16 (weak typing)

    @classmethod
    def of(cls, trt: ModuleType) -> TrtApi:
        creation = getattr(trt, "NetworkDefinitionCreationFlag", None)
        return cls(version=str(getattr(trt, "__version__", "unknown")),
                   has_strongly_typed=hasattr(creation, "STRONGLY_TYPED"),
                   has_fp16_flag=hasattr(trt.BuilderFlag, "FP16"))

    @property
    def generation(self) -> str:
        if not self.has_strongly_typed:
            return "weak"
        return "strong-opt-in" if self.has_fp16_flag else "strong-only"

    def network_flags(self, trt: ModuleType) -> int:
        """`create_network` flags: strongly typed wherever TensorRT has it (the flag's value
        differs between 10.x and 11.x, so it is always read from the module)."""
        if not self.has_strongly_typed:
            return 0
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


@dataclass(frozen=True)
class BuildPlan:
    precision: str  # what the engine computes in: "fp16" or "fp32"
    strongly_typed: bool
    fp16_flag: bool  # set the weakly typed BuilderFlag.FP16


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes one optimization profile covers: TensorRT tunes its kernels for
    `opt` and accepts any size from `min` to `max`."""

    min: int
    opt: int
    max: int

    def shapes(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """(min, opt, max) shapes of an input whose leading dimension is the batch."""
        rest = tuple(int(d) for d in shape[1:])
        return tuple((b, *rest) for b in (self.min, self.opt, self.max))

    @property
    def tag(self) -> str:
        """The profile's part of an engine's file name."""
        return f"b{self.min}-{self.opt}-{self.max}"


def batch_profile(max_batch: int, opt_batch: int | None = None) -> BatchProfile:
    """Batches 1..`max_batch`, tuned for `opt_batch` (default: the typical number of
    sessions sharing a GPU, 4, or `max_batch` when smaller)."""
    if max_batch < 1:
        raise InputError(f"the largest batch must be at least 1, got {max_batch}")
    opt = min(4, max_batch) if opt_batch is None else opt_batch
    if not 1 <= opt <= max_batch:
        raise InputError(f"the typical batch must be within 1..{max_batch}, got {opt}")
    return BatchProfile(1, opt, max_batch)


def dynamic_batch_inputs(network: object) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of the network's inputs whose leading (batch) dimension is dynamic
    (-1); InputError when another dimension is dynamic too."""
    found = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(int(d) for d in tensor.shape)
        if any(d < 0 for d in shape[1:]):
            raise InputError(f"input {tensor.name} has dynamic dimensions {list(shape)}: only "
                             "the batch axis may be dynamic")
        if shape and shape[0] < 0:
            found.append((tensor.name, shape))
    return found


def graph_precision(trt: ModuleType, network: object) -> str:
    """"fp16" if any layer of the parsed network computes in half precision, else "fp32"."""
    half = trt.DataType.HALF
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if any(layer.get_output(j).dtype == half for j in range(layer.num_outputs)):
            return "fp16"
    return "fp32"


def plan_build(api: TrtApi, graph: str, requested: str) -> BuildPlan:
    """The build of a `graph` ("fp16"/"fp32") graph asked to run in `requested`
    ("auto": the graph's own); InputError for a precision this TensorRT cannot give it."""
    if requested not in PRECISIONS:
        raise InputError(f"trt precision must be one of {', '.join(PRECISIONS)}, "
                         f"got {requested!r}")
    if requested in ("auto", graph):
        return BuildPlan(graph, strongly_typed=api.has_strongly_typed,
                         fp16_flag=graph == "fp16" and not api.has_strongly_typed)
    if requested == "fp16" and not api.has_strongly_typed:
        return BuildPlan("fp16", strongly_typed=False, fp16_flag=True)
    if requested == "fp16":
        raise InputError(
            f"this model's graph is fp32, and TensorRT {api.version} builds strongly typed "
            "networks, which compute in the graph's own types: for an fp16 engine export "
            "the avatar in fp16 (`dancenow export RUN -o AVATAR --precision fp16`), or build "
            "this one with --precision fp32 (or auto)")
    raise InputError(
        f"this model's graph is fp16; TensorRT {api.version} would build it in fp16: use "
        "--precision fp16 (or auto), or export the avatar in fp32 for an fp32 engine")
