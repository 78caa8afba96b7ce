"""Per-stage timing: record durations, report percentiles as a dict or a table."""

from __future__ import annotations

import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """count, mean and p50 / p95 / p99 (milliseconds) of durations given in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"count": int(ms.size), "mean_ms": float(ms.mean()),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99))}


def time_calls(call: Callable[[int], object], calls: int, warmup: int) -> dict[str, float]:
    """p50/p95/p99 and single-stream fps of `call(i)`: untimed for i < warmup, then timed."""
    for i in range(warmup):
        call(i)
    seconds = []
    for i in range(warmup, warmup + calls):
        start = time.perf_counter()
        call(i)
        seconds.append(time.perf_counter() - start)
    s = summarize_ms(seconds)
    return {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"], "p99_ms": s["p99_ms"],
            "fps": 1e3 / s["p50_ms"]}


def time_runner(runner: Any, calls: int, warmup: int,  # noqa: ANN401 - any entered Runner
                rng: np.random.Generator) -> dict[str, float]:
    """`time_calls` of one entered Runner, fed random inputs of its own shapes (a
    model's speed does not depend on the values)."""
    feed = {s.name: rng.uniform(-1, 1, s.shape).astype(s.dtype) for s in runner.inputs}
    return time_calls(lambda _: runner.infer(feed), calls, warmup)


class StageTimes:
    """Durations per named stage, in insertion order of the stages."""

    def __init__(self) -> None:
        self._samples: dict[str, list[float]] = defaultdict(list)

    def add(self, stage: str, seconds: float) -> None:
        self._samples[stage].append(seconds)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def summary(self) -> dict[str, dict[str, float]]:
        """stage -> count, mean, p50, p95, p99 (milliseconds)."""
        return {stage: summarize_ms(samples) for stage, samples in self._samples.items()}

    def table(self) -> str:
        """A markdown table of the summary."""
        lines = ["| stage | frames | mean ms | p50 ms | p95 ms |", "|---|---:|---:|---:|---:|"]
        for stage, s in self.summary().items():
            lines.append(f"| {stage} | {s['count']} | {s['mean_ms']:.2f} | {s['p50_ms']:.2f} "
                         f"| {s['p95_ms']:.2f} |")
        return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
