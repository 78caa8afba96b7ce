"""One run on a GPU machine: the checks that need a GPU, then every preset's generator timed
per GPU backend and batch size against torch on the CPU.

Made for a machine with torch (CUDA), numpy, onnx and the project's source and little
else: it imports neither aiortc, PyAV, OpenCV nor the native extension. The ONNX GPU
backends (`ort-cuda`, `ort-trt`, `trt`) are used where their runtimes are installed.
Without CUDA every GPU part is skipped with its reason and the CPU parts still run, so
the script's logic runs anywhere.

* Checks (the tests that need a GPU): the `torch` backend on CUDA runs a generator's
  `torch.export` program as the CPU does (fp32), in fp16, and compiled; each ONNX GPU
  backend present gives what ONNX Runtime gives on the CPU for the same fp16 graph.
* Timings: each preset's temporal generator (random weights: speed does not depend on
  them) at each batch size, p50/p95 per call with CUDA synchronised after each call, and
  per frame: torch eager fp32 and fp16 and compiled fp16 on CUDA (compiled at
  `--compile-batches` only: each batch size compiles anew), and every ONNX GPU backend
  present (an fp16 graph exported at that batch size). The baseline, torch eager fp32 on
  the CPU, runs in the same process, at `--cpu-batches`.
* `--budget` bounds the timings: once it is spent the remaining rows are skipped, and say so.

Results: `results/<gpu-name>.json` and `.md` (`results/no-gpu.*` without CUDA).

    python -m benchmarks.gpu_check [--presets cpu-live cpu-rt balanced hd]
                                   [--batches 1 2 4 8 16] [--budget 400]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.report import command_line, write_results
from engine.errors import InputError
from engine.runners import available_backends, create_runner
from engine.timing import summarize_ms

log = logging.getLogger("benchmarks.gpu_check")
RESULTS = Path(__file__).resolve().parent / "results"
PRESETS = ("cpu-live", "cpu-rt", "balanced", "hd")
ONNX_GPU_BACKENDS = ("ort-cuda", "ort-trt", "trt")
# largest difference allowed against the CPU in fp32 (TF32 convolutions on by default),
# in fp16, and between compiled and eager fp16 (outputs in [-1, 1])
TOLERANCE = {"fp32": 5e-3, "fp16": 2e-2, "compiled": 1e-2}


@dataclass
class Budget:
    """Seconds the timings may take; spent as they run."""

    seconds: float
    start: float = 0.0

    def __post_init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def spent(self) -> bool:
        return time.perf_counter() - self.start > self.seconds


def cuda_unavailable() -> str | None:
    """Why the GPU parts cannot run here (None when they can)."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch"
    return None


def gpu_slug() -> str:
    """The results' file name: the GPU's name made path-safe, or `no-gpu`."""
    if cuda_unavailable():
        return "no-gpu"
    import torch

    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(0).lower()).strip("-")


def environment() -> dict:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "cuda_runtime": torch.version.cuda, "cpu": platform.processor() or
           platform.machine(), "cores": os.cpu_count(),
           "backends": {b: why or "available" for b, why in available_backends().items()}}
    if not cuda_unavailable():
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                   compute_capability=f"{props.major}.{props.minor}")
    for name in ("onnxruntime", "tensorrt"):
        try:
            env[name] = __import__(name).__version__
        except ImportError:
            env[name] = None
    return env


# ---- models -------------------------------------------------------------------------

def temporal_generator(preset: str) -> tuple[object, object]:
    """(module, config): the preset's temporal generator with seeded random weights."""
    import torch

    from export.onnx_steps import _TemporalGenerator
    from train.models import Generator
    from train.presets import get_preset

    cfg = get_preset(preset).generator
    torch.manual_seed(0)
    return _TemporalGenerator(Generator(cfg)).eval(), cfg


def example_inputs(cfg: object, batch: int, seed: int = 0) -> tuple:
    import torch

    g = torch.Generator().manual_seed(seed)
    r = cfg.resolution
    return (torch.rand(batch, cfg.label_channels, r, r, generator=g) * 2 - 1,
            torch.rand(batch, cfg.image_channels, r, r, generator=g) * 2 - 1)


def exported(module: object, example: tuple, precision: str, folder: Path) -> object:
    """The generator as a saved ONNX graph (an `ExportedModel`) at the example's batch."""
    from export.onnx_steps import checked, onnx_from_checkpoint, saved

    folder.mkdir(parents=True, exist_ok=True)
    model = onnx_from_checkpoint("", "generator", precision,
                                 modules={"generator": (module, example)})
    return saved(checked(model), folder)


# ---- timing -------------------------------------------------------------------------

def time_call(call: Callable[[], object], sync: Callable[[], None], warmup: int, iters: int,
              max_seconds: float) -> dict:
    """p50/p95 of `call` (each followed by `sync`) after `warmup` untimed calls; at most
    `iters` calls, fewer (at least 3) once `max_seconds` have passed."""
    for _ in range(warmup):
        call()
        sync()
    seconds: list[float] = []
    start = time.perf_counter()
    while len(seconds) < iters:
        t = time.perf_counter()
        call()
        sync()
        seconds.append(time.perf_counter() - t)
        if len(seconds) >= 3 and time.perf_counter() - start > max_seconds:
            break
    s = summarize_ms(seconds)
    return {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"], "calls": len(seconds)}


@dataclass(frozen=True)
class Variant:
    """One way to run the generator: a backend on a device in a precision."""

    label: str
    backend: str  # torch | ort-cuda | ort-trt | trt
    device: str
    precision: str
    compiled: bool = False

    @property
    def unavailable(self) -> str | None:
        if self.device == "cuda":
            why = cuda_unavailable()
            if why:
                return why
        if self.backend != "torch":
            return available_backends()[self.backend]
        return None


def variants() -> list[Variant]:
    return [Variant("torch cpu eager fp32 (baseline)", "torch", "cpu", "fp32"),
            Variant("torch cuda eager fp32", "torch", "cuda", "fp32"),
            Variant("torch cuda eager fp16", "torch", "cuda", "fp16"),
            Variant("torch cuda compiled fp16", "torch", "cuda", "fp16", compiled=True),
            *(Variant(f"{b} fp16", b, "cuda", "fp16") for b in ONNX_GPU_BACKENDS)]


def _torch_call(variant: Variant, module: object, example: tuple) -> tuple[Callable, Callable]:
    import torch

    dtype = torch.float16 if variant.precision == "fp16" else torch.float32
    model = module.to(variant.device, dtype)
    if variant.compiled:
        model = torch.compile(model)
    args = [x.to(variant.device, dtype) for x in example]

    def call() -> object:
        with torch.inference_mode():
            return model(*args)

    sync = torch.cuda.synchronize if variant.device == "cuda" else (lambda: None)
    return call, sync


def _onnx_call(variant: Variant, module: object, example: tuple, folder: Path,
               stack: contextlib.ExitStack) -> tuple[Callable, Callable]:
    model = exported(module, example, variant.precision, folder)
    runner = stack.enter_context(create_runner(variant.backend, model.path))
    feed = {s.name: x.numpy().astype(s.dtype) for s, x in zip(runner.inputs, example,
                                                              strict=True)}
    return (lambda: runner.infer(feed)), (lambda: None)  # infer returns host outputs


def time_variant(variant: Variant, preset: str, batch: int, folder: Path, warmup: int,
                 iters: int, max_seconds: float) -> dict:
    module, cfg = temporal_generator(preset)
    example = example_inputs(cfg, batch)
    with contextlib.ExitStack() as stack:
        start = time.perf_counter()
        if variant.backend == "torch":
            call, sync = _torch_call(variant, module, example)
        else:
            call, sync = _onnx_call(variant, module, example,
                                    folder / f"{preset}-b{batch}-{variant.backend}", stack)
        timing = time_call(call, sync, warmup, iters, max_seconds)
        timing["setup_s"] = round(time.perf_counter() - start, 1)
    return timing


def timings(presets: list[str], batches: list[int], cpu_batches: list[int],
            compile_batches: list[int], budget: Budget, warmup: int, iters: int,
            max_seconds: float) -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="dancenow-gpu-check-") as tmp:
        for preset in presets:
            baseline_ms = None
            for variant in variants():
                wanted = cpu_batches if variant.device == "cpu" else (
                    compile_batches if variant.compiled else batches)
                for batch in wanted:
                    row = {"preset": preset, "variant": variant.label,
                           "backend": variant.backend, "device": variant.device,
                           "precision": variant.precision, "batch": batch}
                    why = variant.unavailable or ("time budget spent" if budget.spent
                                                  else None)
                    if why:
                        rows.append({**row, "status": "skipped", "reason": why})
                        continue
                    try:
                        timing = time_variant(variant, preset, batch, Path(tmp), warmup,
                                              iters, max_seconds)
                    except (RuntimeError, InputError, MemoryError) as exc:
                        log.warning("%s %s batch %d failed: %s", preset, variant.label,
                                    batch, exc)
                        rows.append({**row, "status": "failed", "reason": str(exc)[:300]})
                        continue
                    per_frame = timing["p50_ms"] / batch
                    if variant.device == "cpu" and batch == 1:
                        baseline_ms = per_frame
                    rows.append({**row, "status": "ok", **timing,
                                 "per_frame_ms": round(per_frame, 3),
                                 "frames_per_s": round(1e3 / per_frame, 1),
                                 "speedup_vs_cpu": (round(baseline_ms / per_frame, 2)
                                                    if baseline_ms else None)})
                    log.info("%s %s batch %d: p50 %.2f ms", preset, variant.label, batch,
                             timing["p50_ms"])
    return rows


# ---- checks -------------------------------------------------------------------------

def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max())


def checks(folder: Path, preset: str = "cpu-live") -> list[dict]:
    """The torch backend on CUDA (fp32, fp16, compiled) and each ONNX GPU backend present,
    each against the CPU on the same inputs."""
    from export.torch_program import saved_program

    module, cfg = temporal_generator(preset)
    example = example_inputs(cfg, 1, seed=1)
    fp32 = exported(module, example, "fp32", folder / "fp32")
    fp16 = exported(module, example, "fp16", folder / "fp16")
    program = saved_program(fp32, folder)
    feed = {"label": example[0].numpy(), "previous": example[1].numpy()}

    def run(backend: str, model: Path, **options: object) -> np.ndarray:
        with create_runner(backend, model, **options) as runner:
            return runner.infer(feed)["frame"].copy()

    cpu = run("torch", program, device="cpu")
    cpu_onnx_fp16 = run("ort-cpu", fp16.path)
    cuda_why = cuda_unavailable()
    cases: list[tuple[str, str | None, Callable[[], float], float]] = [
        ("torch cuda fp32 matches the cpu", cuda_why,
         lambda: _max_difference(run("torch", program, device="cuda"), cpu), TOLERANCE["fp32"]),
        ("torch cuda fp16 close to the cpu's fp32", cuda_why,
         lambda: _max_difference(run("torch", program, device="cuda", precision="fp16"), cpu),
         TOLERANCE["fp16"]),
        ("torch cuda compiled fp16 matches eager fp16", cuda_why,
         lambda: _max_difference(
             run("torch", program, device="cuda", precision="fp16", compile=True),
             run("torch", program, device="cuda", precision="fp16")), TOLERANCE["compiled"]),
    ]
    for backend in ONNX_GPU_BACKENDS:
        why = cuda_why or available_backends()[backend]
        cases.append((f"{backend} matches ort-cpu on the fp16 graph", why,
                      lambda b=backend: _max_difference(run(b, fp16.path), cpu_onnx_fp16),
                      TOLERANCE["fp16"]))
    out = []
    for name, why, measure, tolerance in cases:
        if why:
            out.append({"check": name, "status": "skipped", "reason": why})
            continue
        try:
            diff = measure()
        except (RuntimeError, InputError) as exc:
            out.append({"check": name, "status": "failed", "reason": str(exc)[:300]})
            continue
        out.append({"check": name, "status": "passed" if diff <= tolerance else "failed",
                    "max_difference": round(diff, 6), "tolerance": tolerance})
    return out


# ---- report -------------------------------------------------------------------------

def markdown(report: dict) -> str:
    env = report["environment"]
    where = env.get("gpu") or "no GPU"
    lines = [f"# GPU check: {where}", "", f"`{report['command']}`", "",
             f"torch {env['torch']} (CUDA {env['cuda_runtime']}), onnxruntime "
             f"{env['onnxruntime']}, TensorRT {env['tensorrt'] or 'not installed'}; "
             f"{report['seconds']:.0f} s in all.", "", "## Checks", "",
             "| check | result | max difference (tolerance) |", "|---|---|---|"]
    for c in report["checks"]:
        detail = (f"{c['max_difference']:.2g} ({c['tolerance']:g})" if "max_difference" in c
                  else c.get("reason", ""))
        lines.append(f"| {c['check']} | {c['status']} | {detail} |")
    lines += ["", "## Generators, per call and per frame", "",
              "| preset | variant | batch | p50 ms | p95 ms | ms per frame | frames/s "
              "| vs cpu |", "|---|---|---|---|---|---|---|---|"]
    skipped: dict[str, set] = {}
    for r in report["timings"]:
        if r["status"] != "ok":
            skipped.setdefault(f"{r['variant']}: {r['reason']}", set()).add(r["preset"])
            continue
        vs = f"{r['speedup_vs_cpu']:.1f}x" if r["speedup_vs_cpu"] else ""
        lines.append(f"| {r['preset']} | {r['variant']} | {r['batch']} | {r['p50_ms']:.2f} "
                     f"| {r['p95_ms']:.2f} | {r['per_frame_ms']:.3f} | {r['frames_per_s']} "
                     f"| {vs} |")
    if skipped:
        lines += ["", "Not timed:", ""]
        lines += [f"* {what} ({', '.join(sorted(p))})" for what, p in skipped.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 2, 4, 8, 16])
    parser.add_argument("--cpu-batches", nargs="+", type=int, default=[1],
                        help="batch sizes of the CPU baseline")
    parser.add_argument("--compile-batches", nargs="+", type=int, default=[1, 8],
                        help="batch sizes of the compiled variant (each compiles anew)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=8.0,
                        help="time one row for at most this long (at least 3 calls)")
    parser.add_argument("--budget", type=float, default=400.0,
                        help="seconds for all timings; rows past it are skipped")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if min(args.batches + args.cpu_batches + args.compile_batches) < 1:
        parser.error("batch sizes are at least 1")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dancenow-gpu-check-") as tmp:
        found = checks(Path(tmp))
    rows = timings(args.presets, args.batches, args.cpu_batches, args.compile_batches,
                   Budget(args.budget), args.warmup, args.iters, args.max_seconds)
    report = {"command": command_line("benchmarks.gpu_check", argv),
              "environment": environment(), "checks": found, "timings": rows,
              "seconds": round(time.perf_counter() - start, 1)}
    write_results(args.out, gpu_slug(), report, markdown(report))
    return 1 if any(c["status"] == "failed" for c in found) else 0


if __name__ == "__main__":
    raise SystemExit(main())
