"""Runner latency per backend: the generator of each preset and the BlazePose models.

For every preset, a temporal generator with random weights (speed does not depend on
them) is exported like a real avatar (ONNX fp32 and fp16, and a torch.export program)
into a temporary folder; the BlazePose models are converted from mediapipe's. Each
available backend variant then runs one frame per call: warm-up calls, then timed
calls, giving p50/p95/p99 latency and single-stream throughput. The baseline, torch
eager on the CPU, runs in the same process, and every row carries its speed-up over
it. For pose, mediapipe's own pipeline (TFLite, XNNPACK) is timed beside the ONNX
models as its reference. Results: `results/<device>.json` and `.md`.

    python -m benchmarks.runners [--presets cpu-rt balanced] [--calls 100]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.report import command_line, write_results
from engine.runners import available_backends, create_runner
from engine.timing import time_calls, time_runner

log = logging.getLogger("benchmarks.runners")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Variant:
    """One way to run a model: a backend, its options, and which model file it needs."""

    label: str
    backend: str
    model: str  # key into the prepared model files
    options: dict = field(default_factory=dict)


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def device_slug() -> str:
    gpu = gpu_name()
    if gpu:
        return re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"cpu-{os.cpu_count()}c"


def generator_variants(status: dict[str, str | None], cuda: bool) -> list[Variant]:
    out = [Variant("torch cpu eager fp32 (baseline)", "torch", "pt2", {"device": "cpu"}),
           Variant("ort-cpu fp32", "ort-cpu", "onnx-fp32"),
           Variant("ort-cpu fp16", "ort-cpu", "onnx-fp16")]
    if status.get("ov-cpu") is None:
        out += [Variant("ov-cpu fp32", "ov-cpu", "onnx-fp32", {"precision": "f32"}),
                Variant("ov-cpu auto (bf16 where the CPU has it)", "ov-cpu", "onnx-fp32"),
                Variant("ov-cpu auto, fp16 graph", "ov-cpu", "onnx-fp16")]
    if cuda:
        out += [Variant("torch cuda eager fp32", "torch", "pt2", {"device": "cuda"}),
                Variant("torch cuda eager fp16", "torch", "pt2",
                        {"device": "cuda", "precision": "fp16"}),
                Variant("torch cuda compiled fp16", "torch", "pt2",
                        {"device": "cuda", "precision": "fp16", "compile": True})]
    for backend in ("ort-cuda", "ort-trt"):
        if status.get(backend) is None:
            out.append(Variant(f"{backend} fp16", backend, "onnx-fp16"))
    if status.get("trt") is None:
        out.append(Variant("trt fp16", "trt", "onnx-fp16"))  # the graph's own precision
    return out


def prepare_generator(preset: str, folder: Path) -> tuple[dict[str, Path], dict]:
    import torch

    from export.onnx_steps import _TemporalGenerator, checked, onnx_from_checkpoint, saved
    from export.torch_program import saved_program
    from train.models import Generator, count_parameters
    from train.presets import get_preset

    cfg = get_preset(preset).generator
    torch.manual_seed(0)
    g = Generator(cfg).eval()
    r = cfg.resolution
    example = (torch.zeros(1, cfg.label_channels, r, r), torch.zeros(1, cfg.image_channels, r, r))
    modules = {"generator": (_TemporalGenerator(g).eval(), example)}
    files = {}
    for precision in ("fp32", "fp16"):
        sub = folder / precision
        sub.mkdir(parents=True, exist_ok=True)
        model = saved(checked(onnx_from_checkpoint("", "generator", precision,
                                                   modules=modules)), sub)
        files[f"onnx-{precision}"] = model.path
        if precision == "fp32":
            files["pt2"] = saved_program(model, sub)
    return files, {"resolution": r, "parameters": count_parameters(g)}


def bench_generators(presets: list[str], calls: int, warmup: int, tmp: Path) -> list[dict]:
    status = available_backends()
    gpu = gpu_name() is not None
    rows = []
    for preset in presets:
        files, info = prepare_generator(preset, tmp / preset)
        results = []
        for v in generator_variants(status, gpu):
            rng = np.random.default_rng(0)
            with create_runner(v.backend, files[v.model], **v.options) as runner:
                stats = time_runner(runner, calls, warmup, rng)
            log.info("%s %s: p50 %.2f ms", preset, v.label, stats["p50_ms"])
            results.append({"variant": v.label, "backend": v.backend, **stats})
        base = results[0]["p50_ms"]
        for r in results:
            r["speedup_vs_baseline"] = base / r["p50_ms"]
        rows.append({"preset": preset, **info, "results": results})
    return rows


def bench_pose(calls: int, warmup: int, tmp: Path) -> list[dict]:
    from engine.pose import create_estimator
    from engine.pose.blazepose import DETECTOR_FILE, LANDMARK_FILE
    from export.blazepose import convert_pose_models
    from synth.clip import ClipSpec, synthesize

    files = convert_pose_models(tmp / "pose")
    status = available_backends()
    rows = []
    frames = [f for f, _ in synthesize(ClipSpec(actor="performer", motion="dance", seconds=2,
                                                size=512, fps=30, seed=0))]
    def estimate_each(est: object) -> Callable[[int], object]:
        return lambda i: est.estimate(frames[i % len(frames)])

    with create_estimator("mediapipe", video=True) as est:
        stats = time_calls(estimate_each(est), calls, warmup)
    base = stats["p50_ms"]
    rows.append({"model": "mediapipe pipeline, 512x512 frame (reference)", "backend": "mediapipe",
                 **stats, "vs_mediapipe": 1.0})
    backends = [b for b in ("ort-cpu", "ov-cpu", "ort-cuda", "ort-trt", "trt")
                if status.get(b) is None]
    for backend in backends:
        with create_estimator(backend, video=True, models_dir=files[DETECTOR_FILE].parent) as est:
            stats = time_calls(estimate_each(est), calls, warmup)
        rows.append({"model": "pipeline (tracking), 512x512 frame", "backend": backend,
                     **stats, "vs_mediapipe": base / stats["p50_ms"]})
        for name, file in (("landmark model", LANDMARK_FILE), ("detector", DETECTOR_FILE)):
            with create_runner(backend, files[file]) as runner:
                stats = time_runner(runner, calls, warmup, np.random.default_rng(0))
            rows.append({"model": name, "backend": backend, **stats, "vs_mediapipe": None})
    for r in rows:
        log.info("pose %s on %s: p50 %.2f ms", r["model"], r["backend"], r["p50_ms"])
    return rows


def markdown(report: dict) -> str:
    m = report["machine"]
    gpu = f", GPU {report['gpu']}" if report["gpu"] else ", no GPU"
    lines = [f"# Runner latency on {report['device']}", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores{gpu}. One frame per call, "
             f"{report['calls']} timed calls after {report['warmup']} warm-up calls. "
             "Throughput is single-stream (1000 / p50).", "",
             "## Generator (temporal input: label + previous frame)", "",
             "| preset | size | parameters | variant | p50 ms | p95 ms | p99 ms | fps "
             "| vs baseline |", "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for row in report["generators"]:
        for r in row["results"]:
            lines.append(f"| {row['preset']} | {row['resolution']} | {row['parameters']:,} | "
                         f"{r['variant']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                         f"{r['p99_ms']:.2f} | {r['fps']:.1f} | "
                         f"{r['speedup_vs_baseline']:.2f}x |")
    lines += ["", "## Pose (BlazePose full)", "",
              "| what | backend | p50 ms | p95 ms | p99 ms | fps | vs mediapipe |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for r in report["pose"]:
        ratio = "" if r["vs_mediapipe"] is None else f"{r['vs_mediapipe']:.2f}x"
        lines.append(f"| {r['model']} | {r['backend']} | {r['p50_ms']:.2f} | "
                     f"{r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['fps']:.1f} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["cpu-rt"],
                        help="generator presets to time")
    parser.add_argument("--calls", type=int, default=100, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first")
    parser.add_argument("--no-pose", action="store_true", help="skip the pose models")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0:
        parser.error("--calls must be >= 1 and --warmup >= 0")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        report = {"command": command_line("benchmarks.runners", argv),
                  "device": device_slug(), "gpu": gpu_name(),
                  "machine": machine(), "calls": args.calls, "warmup": args.warmup,
                  "generators": bench_generators(args.presets, args.calls, args.warmup,
                                                 Path(tmp)),
                  "pose": [] if args.no_pose else bench_pose(args.calls, args.warmup,
                                                             Path(tmp))}
    write_results(args.out, report["device"], report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
