"""Generator speed on this CPU: ONNX Runtime against torch eager, in one run.

Builds each preset's temporal generator (random weights: speed does not depend on
them), exports it to ONNX (fixed shapes, opset 17) in a temporary folder, and times a
single-frame call (label + previous frame) after a warm-up, in ONNX Runtime's CPU
provider and in torch eager, alternating. Writes results/generator_cpu.json and .md.

    python -m benchmarks.generator [--presets cpu-rt balanced] [--calls 100]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from benchmarks.machine import machine
from engine.timing import summarize_ms
from train.models import Generator, count_parameters
from train.presets import get_preset

log = logging.getLogger("benchmarks.generator")
RESULTS = Path(__file__).resolve().parent / "results"
WARMUP = 10


def export(g: Generator, path: Path) -> None:
    r = g.config.resolution
    dummy = (torch.zeros(1, 3, r, r), torch.zeros(1, 3, r, r))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(g, dummy, str(path), dynamo=False, opset_version=17,
                          input_names=["label", "previous"], output_names=["frame"])


def percentiles(seconds: list[float]) -> dict[str, float]:
    s = summarize_ms(seconds)
    return {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"], "p99_ms": s["p99_ms"],
            "fps": 1e3 / s["p50_ms"]}


def bench_preset(name: str, calls: int, threads: int) -> dict[str, object]:
    cfg = get_preset(name).generator
    g = Generator(cfg).eval()
    r = cfg.resolution
    rng = np.random.default_rng(0)
    label = rng.uniform(-1, 1, (1, 3, r, r)).astype(np.float32)
    prev = rng.uniform(-1, 1, (1, 3, r, r)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.onnx"
        export(g, path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {"label": label, "previous": prev}
    tl, tp = torch.from_numpy(label), torch.from_numpy(prev)
    torch.set_num_threads(threads)
    times: dict[str, list[float]] = {"ort-cpu": [], "torch-eager": []}
    with torch.inference_mode():
        for i in range(WARMUP + calls):
            for backend in (("ort-cpu", "torch-eager") if i % 2 else ("torch-eager", "ort-cpu")):
                start = time.perf_counter()
                if backend == "ort-cpu":
                    sess.run(None, feed)
                else:
                    g(tl, tp)
                if i >= WARMUP:
                    times[backend].append(time.perf_counter() - start)
    stats = {k: percentiles(v) for k, v in times.items()}
    ratio = stats["torch-eager"]["p50_ms"] / stats["ort-cpu"]["p50_ms"]
    log.info("%s: ort %.1f ms, torch %.1f ms (x%.2f)", name, stats["ort-cpu"]["p50_ms"],
             stats["torch-eager"]["p50_ms"], ratio)
    return {"preset": name, "resolution": r, "parameters": count_parameters(g),
            "backends": stats, "speedup_vs_torch": ratio}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Generator speed on the CPU: ONNX Runtime vs torch eager", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores; {report['threads']} threads per "
             f"backend; one frame per call (temporal input: label + previous frame), "
             f"{report['calls']} calls after {WARMUP} warm-up calls, the backends alternating.",
             "", "| preset | size | parameters | backend | p50 ms | p95 ms | p99 ms | fps "
             "| vs torch |", "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for row in report["presets"]:
        for backend, s in row["backends"].items():
            ratio = row["speedup_vs_torch"] if backend == "ort-cpu" else 1.0
            lines.append(f"| {row['preset']} | {row['resolution']} | {row['parameters']:,} | "
                         f"{backend} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | "
                         f"{s['p99_ms']:.1f} | {s['fps']:.1f} | {ratio:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["cpu-rt"])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = {"command": "python -m benchmarks.generator " + shlex.join(
        sys.argv[1:] if argv is None else argv), "machine": machine(), "threads": args.threads,
        "calls": args.calls, "presets": [bench_preset(p, args.calls, args.threads)
                                         for p in args.presets]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "generator_cpu.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (out / "generator_cpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
