"""The cost table: each avatar measured as `dancenow serve` measures it, in turns."""

from __future__ import annotations

import json

import pytest

from benchmarks import capacity


def test_the_cost_table_follows_from_each_avatars_measured_cost(tmp_path, tiny_bundles,
                                                                pose_models) -> None:
    assert capacity.main(["--avatar", str(tiny_bundles["fp16"]), "--repeat", "2",
                          "--pose-models", str(pose_models), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "capacity.json").read_text())
    (row,) = report["avatars"]
    assert len(row["costs_ms"]) == 2 and row["cost_ms"] in row["costs_ms"]
    assert row["cost_ms"] == pytest.approx(sum(row["stages_ms"].values()), rel=0.01)
    assert row["sessions_per_core"] == pytest.approx(
        capacity.HEADROOM * 1000 / (capacity.TARGET_FPS * row["cost_ms"]))
    assert row["admitted_here"] >= 1
    assert f"| {row['avatar']} |" in (tmp_path / "capacity.md").read_text()
