"""The `ort-trt` backend's provider options against fakes of ONNX Runtime's TensorRT
provider as built against TensorRT 10 and against TensorRT 11.

Each fake `onnxruntime` is the real module with a TensorRT provider that checks its
options the way its generation can take them, then runs the model on the CPU:

* built against TensorRT 10.9 (ONNX Runtime 1.22): the options of the provider's
  documentation (https://onnxruntime.ai/docs/execution-providers/TensorRT-ExecutionProvider.html);
* built against TensorRT 11 (ONNX Runtime 1.27+, "ONNX Runtime 1.27+ supports TensorRT
  11.x" in NVIDIA's migration guide,
  https://docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/tensorrt-10x-to-11x-c-api-reference.html):
  the same without the options that stand for the weak-typing builder flags TensorRT 11
  removed (fp16, int8 with its calibration tables, bf16, the fp32 fallback of layer norms
  that needed precision constraints). Refusing them is the fake's strict reading: there is
  nothing left in TensorRT 11 for them to set.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime
import pytest

from engine.runners import create_runner, ort_runner

TRT = "TensorrtExecutionProvider"
DOCUMENTED = {
    "device_id", "user_compute_stream", "trt_max_workspace_size",
    "trt_max_partition_iterations", "trt_min_subgraph_size", "trt_fp16_enable",
    "trt_bf16_enable", "trt_int8_enable", "trt_int8_calibration_table_name",
    "trt_int8_use_native_calibration_table", "trt_dla_enable", "trt_dla_core",
    "trt_engine_cache_enable", "trt_engine_cache_path", "trt_engine_cache_prefix",
    "trt_dump_subgraphs", "trt_force_sequential_engine_build",
    "trt_context_memory_sharing_enable", "trt_layer_norm_fp32_fallback",
    "trt_timing_cache_enable", "trt_timing_cache_path", "trt_force_timing_cache",
    "trt_detailed_build_log", "trt_build_heuristics_enable", "trt_sparsity_enable",
    "trt_builder_optimization_level", "trt_auxiliary_streams", "trt_tactic_sources",
    "trt_extra_plugin_lib_paths", "trt_profile_min_shapes", "trt_profile_max_shapes",
    "trt_profile_opt_shapes", "trt_cuda_graph_enable", "trt_dump_ep_context_model",
    "trt_ep_context_file_path", "trt_ep_context_embed_mode",
    "trt_engine_decryption_enable", "trt_engine_decryption_lib_path",
}
WEAK_TYPING = {"trt_fp16_enable", "trt_bf16_enable", "trt_int8_enable",
               "trt_int8_calibration_table_name", "trt_int8_use_native_calibration_table",
               "trt_layer_norm_fp32_fallback"}
PROVIDERS = {"trt10": DOCUMENTED, "trt11": DOCUMENTED - WEAK_TYPING}


class ProviderOptionError(RuntimeError):
    pass


def fake_onnxruntime(generation: str) -> SimpleNamespace:
    """onnxruntime with a TensorRT provider of `generation` (see the module doc)."""
    accepted = PROVIDERS[generation]
    seen: list[dict] = []

    def inference_session(path: str, options: object, providers: list) -> object:
        for name, provider_options in providers:
            if name == TRT:
                refused = set(provider_options) - accepted
                if refused:
                    raise ProviderOptionError(f"TensorRT provider ({generation}): unknown "
                                              f"options {sorted(refused)}")
                seen.append(dict(provider_options))
        return onnxruntime.InferenceSession(path, options,
                                            providers=["CPUExecutionProvider"])

    return SimpleNamespace(
        __version__={"trt10": "1.22.0", "trt11": "1.27.0"}[generation],
        SessionOptions=onnxruntime.SessionOptions,
        GraphOptimizationLevel=onnxruntime.GraphOptimizationLevel,
        InferenceSession=inference_session,
        get_available_providers=lambda: [TRT, "CUDAExecutionProvider",
                                         "CPUExecutionProvider"],
        provider_options_seen=seen)


@pytest.mark.parametrize("generation", list(PROVIDERS))
def test_ort_trt_options_suit_providers_of_tensorrt_10_and_11(generation, tiny_onnx, rng,
                                                               monkeypatch) -> None:
    fake = fake_onnxruntime(generation)
    monkeypatch.setattr(ort_runner, "_ort", lambda: fake)
    feed = {n: rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
            for n in ("label", "previous")}
    path, _ = tiny_onnx
    with create_runner("ort-trt", path) as trt, create_runner("ort-cpu", path) as cpu:
        np.testing.assert_allclose(trt.infer(feed)["frame"], cpu.infer(feed)["frame"],
                                   atol=1e-5)
    (options,) = fake.provider_options_seen
    assert not set(options) & WEAK_TYPING
    assert options["trt_engine_cache_enable"] is True
    cache = options["trt_engine_cache_path"]
    assert Path(cache).parts[-2:] == ("engines", "ort-trt") and Path(cache).is_dir()


def test_the_tensorrt_11_fake_refuses_weak_typing_options(tiny_onnx) -> None:
    """What `ort-trt` passed before (trt_fp16_enable) is what this fake refuses."""
    fake = fake_onnxruntime("trt11")
    with pytest.raises(ProviderOptionError, match="trt_fp16_enable"):
        fake.InferenceSession(tiny_onnx[0], onnxruntime.SessionOptions(),
                              providers=[(TRT, {"trt_fp16_enable": True})])
    fake_trt10 = fake_onnxruntime("trt10")
    fake_trt10.InferenceSession(tiny_onnx[0], onnxruntime.SessionOptions(),
                                providers=[(TRT, {"trt_fp16_enable": True})])
