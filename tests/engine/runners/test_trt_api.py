"""The TensorRT build code against fakes of each generation of TensorRT's Python API.

TensorRT cannot be installed here, so each fake `tensorrt` module has exactly the
attributes of its generation that the build touches, as NVIDIA documents them:

* 8.6 (`weak`): `BuilderFlag.FP16`, `Builder.platform_has_fast_fp16`; no
  `NetworkDefinitionCreationFlag.STRONGLY_TYPED` (it first appears in the 9.x Python API).
* 10.3 and 10.12 (`strong-opt-in`): `STRONGLY_TYPED` = 1 beside `EXPLICIT_BATCH` = 0
  (deprecated, ignored); the weak precision flags still there (deprecated in 10.12:
  https://docs.nvidia.com/deeplearning/tensorrt/latest/getting-started/release-notes-10/10.12.0.html).
* 11.4 (`strong-only`): `BuilderFlag.FP16`/`INT8`/`BF16`/`FP8`/`OBEY_PRECISION_CONSTRAINTS`,
  `platform_has_fast_fp16`/`_int8` and `EXPLICIT_BATCH` removed; `STRONGLY_TYPED` kept,
  ignored, and now 0 ("Migrating from TensorRT 10.x to 11.x", Python API reference:
  https://docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-python-api-reference.html).

The fakes' parser reads the real ONNX file (with `onnx`) so a layer computes in half
precision where the exported graph does, and the network's inputs have the graph's
shapes (-1 for a dynamic batch axis). Optimization profiles (`create_optimization_profile`,
`IOptimizationProfile.set_shape(name, min, opt, max)`, `add_optimization_profile`) are the
same calls in every generation; the fake checks what TensorRT checks of them: every
dynamic input has a shape, min <= opt <= max, the fixed dimensions match. Each fake
enforces what its TensorRT enforces on the calls made here: a strongly typed network takes
no precision flag.
"""

from __future__ import annotations

import enum
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf.message import DecodeError

from engine.avatar import load_bundle
from engine.errors import InputError
from engine.runners import trt_runner
from engine.runners.trt_api import BatchProfile, TrtApi, batch_profile, plan_build
from engine.runners.trt_runner import DeviceInfo, build_engine

onnx = pytest.importorskip("onnx")

H200 = DeviceInfo("NVIDIA H200", 9, 0)
WEAK_FLAGS = ("FP16", "INT8", "BF16", "FP8", "OBEY_PRECISION_CONSTRAINTS",
              "PREFER_PRECISION_CONSTRAINTS")
COMMON_FLAGS = ("DEBUG", "REFIT", "TF32", "SPARSE_WEIGHTS", "STRIP_PLAN")
# version -> (generation, NetworkDefinitionCreationFlag members, weak precision API)
GENERATIONS = {
    "8.6.1": ("weak", {"EXPLICIT_BATCH": 0, "EXPLICIT_PRECISION": 1}, True),
    "10.3.0": ("strong-opt-in", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1,
                                 "PREFER_JIT_PYTHON_PLUGINS": 2}, True),
    "10.12.0": ("strong-opt-in", {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1,
                                  "PREFER_JIT_PYTHON_PLUGINS": 2}, True),
    "11.4.0": ("strong-only", {"STRONGLY_TYPED": 0, "PREFER_JIT_PYTHON_PLUGINS": 1,
                               "PREFER_AOT_PYTHON_PLUGINS": 2}, False),
}
FLOAT16 = 10  # onnx.TensorProto.FLOAT16


def _graph_inputs(model_bytes: bytes) -> list[tuple[str, tuple[int, ...]]]:
    graph = onnx.load_from_string(model_bytes).graph
    return [(v.name, tuple(d.dim_value if d.HasField("dim_value") else -1
                           for d in v.type.tensor_type.shape.dim)) for v in graph.input]


def _graph_is_half(model_bytes: bytes) -> bool:
    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    return (any(t.data_type == FLOAT16 for t in graph.initializer)
            or any(n.op_type == "Cast" and any(a.name == "to" and a.i == FLOAT16
                                               for a in n.attribute) for n in graph.node))


def fake_tensorrt(version: str) -> ModuleType:
    """A `tensorrt` module of `version`'s API generation (see the module doc)."""
    _, creation, weak = GENERATIONS[version]
    trt = ModuleType("tensorrt")
    trt.__version__ = version
    trt.BuilderFlag = enum.Enum("BuilderFlag", COMMON_FLAGS + (WEAK_FLAGS if weak else ()))
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", creation)
    trt.DataType = enum.Enum("DataType", ("FLOAT", "HALF", "INT32", "BOOL"))
    trt.MemoryPoolType = enum.Enum("MemoryPoolType", ("WORKSPACE",))
    strongly_typed_bit = (1 << creation["STRONGLY_TYPED"]) if "STRONGLY_TYPED" in creation \
        else None

    class Logger:
        WARNING = 2

        def __init__(self, severity: int) -> None:
            self.severity = severity

    class Tensor:
        def __init__(self, dtype: object) -> None:
            self.dtype = dtype

    class Layer:
        num_outputs = 1

        def __init__(self, dtype: object) -> None:
            self._out = Tensor(dtype)

        def get_output(self, index: int) -> Tensor:
            assert index == 0
            return self._out

    class Input:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.layers: list[Layer] = []
            self.inputs: list[Input] = []

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, index: int) -> Input:
            return self.inputs[index]

        @property
        def strongly_typed(self) -> bool:
            return strongly_typed_bit is not None and bool(self.flags & strongly_typed_bit)

        @property
        def num_layers(self) -> int:
            return len(self.layers)

        def get_layer(self, index: int) -> Layer:
            return self.layers[index]

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network = network
            self.num_errors = 0

        def parse(self, model: bytes) -> bool:
            try:
                half = _graph_is_half(model)
            except DecodeError:
                self.num_errors = 1
                return False
            dtypes = [trt.DataType.FLOAT, trt.DataType.HALF if half else trt.DataType.FLOAT]
            self.network.layers = [Layer(d) for d in dtypes]
            self.network.inputs = [Input(n, s) for n, s in _graph_inputs(model)]
            return True

        def get_error(self, index: int) -> str:
            return "In node 0: not an ONNX model"

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return b"timing:" + version.encode()

    class OptimizationProfile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, min: tuple, opt: tuple, max: tuple) -> None:  # noqa: A002
            if not all(a <= b <= c for a, b, c in zip(min, opt, max, strict=True)):
                raise ValueError(f"{name}: min <= opt <= max fails for {min}, {opt}, {max}")
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class Config:
        def __init__(self) -> None:
            self.flags: set = set()
            self.pools: dict = {}
            self.cache: TimingCache | None = None
            self.profiles: list[OptimizationProfile] = []

        def add_optimization_profile(self, profile: OptimizationProfile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def set_memory_pool_limit(self, pool: object, size: int) -> None:
            self.pools[pool] = size

        def set_flag(self, flag: object) -> None:
            self.flags.add(flag)

        def create_timing_cache(self, data: bytes) -> TimingCache:
            return TimingCache(data)

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache:
            return self.cache

    class Builder:
        builds: list[tuple[Network, Config]] = []

        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            known = sum(1 << v for v in creation.values())
            if flags & ~known:
                raise TypeError(f"unknown NetworkDefinitionCreationFlag bits {flags:#x}")
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> OptimizationProfile:
            return OptimizationProfile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            precision_flags = {f for f in config.flags if f.name in WEAK_FLAGS}
            if network.strongly_typed and precision_flags:
                raise RuntimeError("API Usage Error: a strongly typed network takes no "
                                   f"precision flags, got {precision_flags}")
            for tensor in network.inputs:  # what TensorRT checks of dynamic inputs
                if -1 not in tensor.shape:
                    continue
                given = [p.shapes[tensor.name] for p in config.profiles
                         if tensor.name in p.shapes]
                if not given:
                    raise RuntimeError(f"Network has dynamic or shape inputs, but no "
                                       f"optimization profile has been defined ({tensor.name})")
                for shapes in given:
                    for shape in shapes:
                        if any(d != s for d, s in zip(tensor.shape, shape, strict=True)
                               if d != -1):
                            raise RuntimeError(f"{tensor.name}: profile shape {shape} does "
                                               f"not match {tensor.shape}")
            Builder.builds.append((network, config))
            return b"engine:" + version.encode()

    if weak:
        Builder.platform_has_fast_fp16 = True
        Builder.platform_has_fast_int8 = True
    trt.Logger, trt.Builder, trt.OnnxParser = Logger, Builder, OnnxParser
    return trt


@pytest.fixture(params=list(GENERATIONS))
def fake_trt(request, monkeypatch) -> ModuleType:  # noqa: ANN001
    trt = fake_tensorrt(request.param)
    monkeypatch.setattr(trt_runner, "_tensorrt", lambda: trt)
    monkeypatch.setattr(trt_runner, "current_device", lambda: H200)
    return trt


def _generation(trt: ModuleType) -> str:
    return GENERATIONS[trt.__version__][0]


def test_each_fake_has_its_generation(fake_trt) -> None:
    api = TrtApi.of(fake_trt)
    assert api.generation == _generation(fake_trt)
    if api.generation == "strong-only":  # what broke the build before
        assert not hasattr(fake_trt.BuilderFlag, "FP16")
        assert not hasattr(fake_trt.Builder, "platform_has_fast_fp16")


def test_an_fp16_bundle_builds_in_fp16_on_every_generation(fake_trt, tiny_bundles,
                                                            tmp_path) -> None:
    model = _copy_model(tiny_bundles["fp16"], tmp_path)
    built = build_engine(model)  # precision "auto": the graph's own
    network, config = fake_trt.Builder.builds[-1]
    assert built.precision == "fp16" and built.seconds > 0
    assert built.path.read_bytes() == b"engine:" + fake_trt.__version__.encode()
    if _generation(fake_trt) == "weak":
        assert network.flags == 0 and {f.name for f in config.flags} == {"FP16"}
    else:
        assert network.strongly_typed and not config.flags
    assert (built.path.parent / "timing.cache").is_file()
    described = built.describe()
    assert fake_trt.__version__ in described and "NVIDIA H200" in described
    assert "fp16" in described and "sm90" in described
    again = build_engine(model, "fp16")
    assert again.path == built.path and again.seconds == 0.0  # cached
    assert len(fake_trt.Builder.builds) == 1


def test_an_fp32_bundle_asked_for_fp16(fake_trt, tiny_bundles, tmp_path) -> None:
    model = _copy_model(tiny_bundles["fp32"], tmp_path)
    if _generation(fake_trt) == "weak":
        built = build_engine(model, "fp16")
        _, config = fake_trt.Builder.builds[-1]
        assert built.precision == "fp16" and {f.name for f in config.flags} == {"FP16"}
    else:  # strongly typed: says which export gives fp16, builds nothing
        with pytest.raises(InputError, match="export the avatar in fp16"):
            build_engine(model, "fp16")
        assert not fake_trt.Builder.builds
        assert not list(tmp_path.rglob("*.engine"))
    built = build_engine(model)
    assert built.precision == "fp32"
    network, config = fake_trt.Builder.builds[-1]
    assert not config.flags
    assert network.strongly_typed == (_generation(fake_trt) != "weak")


def test_an_fp16_bundle_asked_for_fp32_says_so(fake_trt, tiny_bundles, tmp_path) -> None:
    with pytest.raises(InputError, match="graph is fp16"):
        build_engine(_copy_model(tiny_bundles["fp16"], tmp_path), "fp32")


def test_a_file_the_parser_refuses_is_an_input_error(fake_trt, tmp_path) -> None:
    model = tmp_path / "generator.onnx"
    model.write_bytes(b"not an onnx file")
    with pytest.raises(InputError, match="TensorRT cannot parse"):
        build_engine(model)


def test_unknown_precisions_are_refused() -> None:
    api = TrtApi("11.4.0", has_strongly_typed=True, has_fp16_flag=False)
    with pytest.raises(InputError, match="auto, fp16, fp32"):
        plan_build(api, "fp32", "int8")


def _copy_model(bundle_root: Path, tmp_path: Path) -> Path:
    """The bundle's generator in a folder of its own (engines are cached beside it)."""
    source = load_bundle(bundle_root).model_path("generator")
    model = tmp_path / source.name
    model.write_bytes(source.read_bytes())
    return model


def test_build_engine_says_precision_version_and_gpu(tiny_bundles, tmp_path, monkeypatch,
                                                     capsys) -> None:
    import shutil

    import engine.runners
    from dancenow.cli import main

    trt = fake_tensorrt("11.4.0")
    monkeypatch.setattr(trt_runner, "_tensorrt", lambda: trt)
    monkeypatch.setattr(trt_runner, "current_device", lambda: H200)
    status = {**engine.runners.available_backends(), "trt": None}
    monkeypatch.setattr(engine.runners, "available_backends", lambda: status)
    bundle = shutil.copytree(tiny_bundles["fp16"], tmp_path / "avatar")
    assert main(["-q", "build-engine", str(bundle)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == list(load_bundle(bundle).models)
    for line in lines:
        assert "fp16 engine (strongly typed), TensorRT 11.4.0, NVIDIA H200 (sm90), built" \
            in line, line
    assert main(["-q", "build-engine", str(bundle), "--precision", "fp32"]) == 2
    assert "graph is fp16" in capsys.readouterr().err


def _dynamic_batch_model(path: Path) -> Path:
    """A graph whose inputs have a dynamic batch axis, as `export --max-batch` writes it."""
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", 3, 8, 8])
              for n in ("label", "previous")]
    out = helper.make_tensor_value_info("frame", TensorProto.FLOAT, ["batch", 3, 8, 8])
    graph = helper.make_graph([helper.make_node("Add", ["label", "previous"], ["frame"])],
                              "g", inputs, [out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_dynamic_batch_axis_gets_one_profile_of_batches(fake_trt, tmp_path) -> None:
    model = _dynamic_batch_model(tmp_path / "generator.onnx")
    built = build_engine(model, max_batch=8)
    _, config = fake_trt.Builder.builds[-1]
    assert len(config.profiles) == 1
    shapes = config.profiles[0].shapes
    assert set(shapes) == {"label", "previous"}
    for name in shapes:
        assert shapes[name] == ((1, 3, 8, 8), (4, 3, 8, 8), (8, 3, 8, 8))  # min, opt, max
    assert built.profile == BatchProfile(1, 4, 8)
    assert built.path.name.endswith("-fp32-b1-4-8.engine")
    assert "batches 1-8 (tuned for 4)" in built.describe()
    other = build_engine(model, max_batch=16, opt_batch=2)  # another profile: another engine
    assert other.path != built.path and other.seconds > 0
    assert fake_trt.Builder.builds[-1][1].profiles[0].shapes["label"][1] == (2, 3, 8, 8)
    assert build_engine(model, max_batch=8).seconds == 0.0  # cached


def test_fixed_shapes_get_no_profile(fake_trt, tiny_onnx, tmp_path) -> None:
    model = tmp_path / "generator.onnx"
    model.write_bytes(Path(tiny_onnx[0]).read_bytes())
    built = build_engine(model, max_batch=8)
    _, config = fake_trt.Builder.builds[-1]
    assert not config.profiles and built.profile is None
    assert built.path.name.endswith("-fp32.engine")


def test_batch_profiles_are_checked() -> None:
    assert batch_profile(2) == BatchProfile(1, 2, 2)
    assert batch_profile(16).shapes((1, 3, 4, 4)) == ((1, 3, 4, 4), (4, 3, 4, 4),
                                                      (16, 3, 4, 4))
    with pytest.raises(InputError, match="at least 1"):
        batch_profile(0)
    with pytest.raises(InputError, match="within 1..4"):
        batch_profile(4, opt_batch=5)
