"""The batcher shared by sessions: total frames/s and per-frame latency at 1..16 sessions.

A preset's temporal generator with random weights (the demo avatar's is `cpu-rt`; speed
does not depend on the weights) is exported as a torch.export program with a dynamic
batch axis, like `dancenow export --max-batch N`. Each simulated session offers a frame
every 1/30 s (its label map and its own previous output), latest frame wins:

* `batched`: every session submits to one `Batcher` (one model, one worker thread);
  a frame still pending when its session offers the next one is superseded (dropped);
* `own runner`: every session has its own runner in its own thread, which takes the
  newest frame whenever it is free (the CPU backends' way, in the same run).

Per point: frames/s out in total, latency from offer to output (p50/p95), frames
dropped, and (batched) the batch size distribution and window waits. Before timing,
a batch of distinct frames is checked against each frame run alone (max abs error).
On the CPU this measures correctness and overhead; batching pays on a GPU:

    python -m benchmarks.batcher [--device cpu|cuda] [--sessions 1 2 4 8 16] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.machine import machine
from benchmarks.report import command_line, write_results
from engine.runners import create_runner
from engine.runners.batching import Batcher, BatchOutcome
from engine.timing import summarize_ms

log = logging.getLogger("benchmarks.batcher")
RESULTS = Path(__file__).resolve().parent / "results"
FPS = 30.0


def export_program(preset: str, max_batch: int, folder: Path) -> tuple[Path, int]:
    """(the preset's generator as a dynamic-batch torch program, its resolution)."""
    import torch

    from export.onnx_steps import _TemporalGenerator, onnx_from_checkpoint
    from export.torch_program import saved_program
    from train.models import Generator
    from train.presets import get_preset

    cfg = get_preset(preset).generator
    torch.manual_seed(0)
    r = cfg.resolution
    example = (torch.zeros(1, cfg.label_channels, r, r), torch.zeros(1, cfg.image_channels, r, r))
    modules = {"generator": (_TemporalGenerator(Generator(cfg).eval()).eval(), example)}
    model = onnx_from_checkpoint("", "generator", "fp32", modules=modules, max_batch=max_batch)
    return saved_program(model, folder), r


def frames(resolution: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (1, 3, resolution, resolution)).astype(np.float32)
            for _ in range(count)]


def check_split(open_runner, labels: list[np.ndarray]) -> float:  # noqa: ANN001
    """Max abs difference between frames run in one batch and each run alone."""
    previous = np.zeros_like(labels[0])
    with open_runner() as runner:
        alone = [runner.infer({"label": x, "previous": previous})["frame"].copy()
                 for x in labels]
    with Batcher(open_runner, window_ms=1000.0) as batcher:
        sessions = [batcher.session() for _ in labels]
        futures = [s.submit({"label": x, "previous": previous})
                   for s, x in zip(sessions, labels, strict=True)]
        batched = [f.result().outputs["frame"] for f in futures]
    return max(float(np.max(np.abs(a - b))) for a, b in zip(alone, batched, strict=True))


class Tally:
    """Latencies and counts of one run (appended from any thread)."""

    def __init__(self) -> None:
        self.latency: list[float] = []
        self.dropped = 0

    def summary(self, sessions: int, seconds: float, offered: int) -> dict:
        s = summarize_ms(self.latency) if self.latency else {"p50_ms": None, "p95_ms": None}
        return {"sessions": sessions, "frames_out": len(self.latency),
                "fps_total": len(self.latency) / seconds,
                "fps_per_session": len(self.latency) / seconds / sessions,
                "offered": offered, "dropped": self.dropped,
                "latency_p50_ms": s["p50_ms"], "latency_p95_ms": s["p95_ms"]}


async def _batched_session(batcher: Batcher, labels: list[np.ndarray], start: float,
                           end: float, offset: float, tally: Tally) -> int:
    session = batcher.session()
    previous = [np.zeros_like(labels[0])]
    tick, offered = start + offset, 0

    def done(submitted: float, future) -> None:  # noqa: ANN001 - a concurrent Future
        if future.exception() is not None:
            log.error("frame failed: %s", future.exception())
            return
        outcome: BatchOutcome = future.result()
        if outcome.superseded:
            tally.dropped += 1
            return
        tally.latency.append(time.perf_counter() - submitted)
        previous[0] = outcome.outputs["frame"]

    while (now := time.perf_counter()) < end:
        if now < tick:
            await asyncio.sleep(tick - now)
            continue
        feed = {"label": labels[offered % len(labels)], "previous": previous[0]}
        future = session.submit(feed)
        submitted = time.perf_counter()
        future.add_done_callback(lambda f, t=submitted: done(t, f))
        offered += 1
        tick += 1 / FPS
    session.close()
    return offered


def run_batched(open_runner, labels: list[np.ndarray], sessions: int,  # noqa: ANN001
                seconds: float, window_ms: float) -> dict:
    tally = Tally()
    with Batcher(open_runner, window_ms) as batcher:
        async def main() -> int:
            start = time.perf_counter() + 0.05
            tasks = [_batched_session(batcher, labels, start, start + seconds,
                                      i / FPS / sessions, tally) for i in range(sessions)]
            return sum(await asyncio.gather(*tasks))

        offered = asyncio.run(main())
        time.sleep(0.2)  # the last batch's outcomes
        stats = batcher.stats()
    out = tally.summary(sessions, seconds, offered)
    out.update({"batch_sizes": stats["batch_sizes"], "mean_batch": stats["mean_batch"],
                "window_wait": stats["window_wait"], "inference": stats["inference"]})
    return out


def run_own_runners(open_runner, labels: list[np.ndarray], sessions: int,  # noqa: ANN001
                    seconds: float) -> dict:
    tally = Tally()
    lock = threading.Lock()
    counts = [0] * sessions
    runners = [open_runner().__enter__() for _ in range(sessions)]
    start = time.perf_counter() + 0.05

    def session(i: int) -> None:
        runner, offset = runners[i], i / FPS / sessions
        previous, last = np.zeros_like(labels[0]), -1
        while (now := time.perf_counter()) < start + seconds:
            newest = int((now - start - offset) * FPS)  # the newest frame offered so far
            if newest <= last:
                time.sleep(start + offset + (last + 1) / FPS - now)
                continue
            skipped = newest - last - 1
            last = newest
            feed = {"label": labels[newest % len(labels)], "previous": previous}
            previous = runner.infer(feed)["frame"].copy()
            with lock:
                tally.dropped += skipped
                tally.latency.append(time.perf_counter() - (start + offset + newest / FPS))
                counts[i] = newest + 1

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for runner in runners:
        runner.__exit__(None, None, None)
    return tally.summary(sessions, seconds, sum(counts))


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Batcher shared by sessions ({report['backend']} on {report['device']})", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores. Generator: `{report['preset']}` "
             f"preset ({report['resolution']}x{report['resolution']}, random weights), "
             f"torch.export program with a dynamic batch axis (1..{report['max_batch']}), "
             f"{report['threads']} torch thread(s). Each session offers {FPS:.0f} frames/s "
             f"for {report['seconds']} s, latest frame wins; window {report['window_ms']} ms.",
             "", f"Batched vs. each frame alone: max abs error {report['split_error']:.2e}.",
             "", "| sessions | mode | frames/s total | per session | latency p50 ms "
             "| p95 ms | dropped | batch sizes |", "|---:|---|---:|---:|---:|---:|---:|---|"]
    for row in report["rows"]:
        for mode in ("batched", "own runner"):
            r = row[mode]
            sizes = ", ".join(f"{k}: {v}" for k, v in r.get("batch_sizes", {}).items())
            p50 = f"{r['latency_p50_ms']:.1f}" if r["latency_p50_ms"] is not None else "-"
            p95 = f"{r['latency_p95_ms']:.1f}" if r["latency_p95_ms"] is not None else "-"
            lines.append(f"| {row['sessions']} | {mode} | {r['fps_total']:.1f} | "
                         f"{r['fps_per_session']:.1f} | {p50} | {p95} | {r['dropped']} | "
                         f"{sizes or '-'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="torch", choices=["torch"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16"])
    p.add_argument("--preset", default="cpu-rt", help="generator preset (the demo's: cpu-rt)")
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--seconds", type=float, default=3.0, help="per point and mode")
    p.add_argument("--window-ms", type=float, default=5.0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        log.error("--device cuda: torch sees no GPU here")
        return 2
    max_batch = max(args.sessions)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        program, resolution = export_program(args.preset, max(max_batch, 2), Path(tmp))
        log.info("exported %s in %.1f s", program.name, time.perf_counter() - started)

        def open_runner():  # noqa: ANN202
            return create_runner("torch", program, device=args.device,
                                 precision=args.precision)

        labels = frames(resolution, 8, seed=0)
        split_error = check_split(open_runner, labels[:4])
        log.info("batched vs alone: max abs error %.2e", split_error)
        rows = []
        for n in args.sessions:
            row = {"sessions": n,
                   "batched": run_batched(open_runner, labels, n, args.seconds, args.window_ms),
                   "own runner": run_own_runners(open_runner, labels, n, args.seconds)}
            for mode in ("batched", "own runner"):
                r = row[mode]
                log.info("%2d sessions, %-10s: %.1f frames/s, p50 %s ms, p95 %s ms", n, mode,
                         r["fps_total"], r["latency_p50_ms"], r["latency_p95_ms"])
            rows.append(row)
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else None
    report = {"command": command_line("benchmarks.batcher", argv), "machine": machine(),
              "backend": args.backend, "device": gpu or f"cpu ({args.threads} thread)",
              "precision": args.precision, "preset": args.preset, "resolution": resolution,
              "max_batch": max(max_batch, 2), "threads": args.threads,
              "seconds": args.seconds, "window_ms": args.window_ms,
              "split_error": split_error, "rows": rows}
    stem = "batcher" if gpu is None else "batcher-cuda"
    write_results(RESULTS, stem, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
