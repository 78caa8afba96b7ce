"""Per-stage timing: record durations, report percentiles as a dict or a table."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np


def summarize_ms(seconds: Sequence[float]) -> dict[str, float]:
    """count, mean and p50 / p95 / p99 (milliseconds) of durations given in seconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {"count": int(ms.size), "mean_ms": float(ms.mean()),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99))}


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
