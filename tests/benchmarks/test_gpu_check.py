"""The GPU check runs on a machine without a GPU: its CPU parts run, every GPU part is
skipped with its reason, and it needs none of aiortc, PyAV, OpenCV or the native
extension (the GPU machines lack them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("av", "aiortc", "cv2", "mediapipe", "engine._native")
# Run the check in a Python where importing any of BLOCKED fails.
WITHOUT = "import sys; sys.modules.update(dict.fromkeys({blocked!r})); " \
          "from benchmarks import gpu_check; sys.exit(gpu_check.main({argv!r}))"


@pytest.mark.skipif(gpu_check.cuda_unavailable() is None, reason="a GPU is present here")
def test_on_a_cpu_machine_it_times_the_cpu_and_skips_the_gpu(tmp_path) -> None:
    argv = ["--presets", "tiny", "cpu-live", "--batches", "1", "2", "--compile-batches", "1",
            "--warmup", "1", "--iters", "3", "--out", str(tmp_path)]
    code = WITHOUT.format(blocked=BLOCKED, argv=argv)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "no-gpu.json").read_text())
    checks = report["checks"]
    assert len(checks) == 3 + len(gpu_check.ONNX_GPU_BACKENDS)
    assert all(c["status"] == "skipped" and c["reason"] for c in checks), checks
    rows = report["timings"]
    cpu = [r for r in rows if r["device"] == "cpu"]
    assert [(r["preset"], r["status"]) for r in cpu] == [("tiny", "ok"), ("cpu-live", "ok")]
    for r in cpu:
        assert 0 < r["p50_ms"] <= r["p95_ms"] and r["speedup_vs_cpu"] == 1.0
    gpu = [r for r in rows if r["device"] == "cuda"]
    # every GPU variant at every batch it would run, per preset, each with its reason
    assert len(gpu) == 2 * (2 + 2 + 1 + 2 * len(gpu_check.ONNX_GPU_BACKENDS))
    assert all(r["status"] == "skipped" and "CUDA" in r["reason"] for r in gpu), gpu
    text = (tmp_path / "no-gpu.md").read_text()
    assert "| tiny | torch cpu eager fp32 (baseline) | 1 |" in text
    assert "no CUDA device visible to torch" in text


def test_timing_stops_at_its_time_limit_but_not_before_three_calls() -> None:
    calls = []
    result = gpu_check.time_call(lambda: calls.append(1), lambda: None, warmup=2, iters=100,
                                 max_seconds=0.0)
    assert result["calls"] == 3 and len(calls) == 5
    result = gpu_check.time_call(lambda: None, lambda: None, warmup=0, iters=7,
                                 max_seconds=60.0)
    assert result["calls"] == 7 and result["p50_ms"] <= result["p95_ms"]


def test_a_spent_budget_skips_the_rows_and_says_so() -> None:
    rows = gpu_check.timings(["tiny"], [1], [1], [1], gpu_check.Budget(0.0), 0, 1, 1.0)
    assert rows and all(r["status"] == "skipped" for r in rows)
    assert any(r["reason"] == "time budget spent" for r in rows)
