"""The benchmarks run end to end at tiny sizes and write well-formed results."""

from __future__ import annotations

import json

from benchmarks import generator, label_map


def test_label_map_benchmark_writes_json_and_markdown(tmp_path) -> None:
    assert label_map.main(["--frames", "24", "--sizes", "64", "--out-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "label_map.json").read_text())
    assert report["sizes"]["64"]["speedup_median"] > 0
    assert "| 64 |" in (tmp_path / "label_map.md").read_text()


def test_generator_benchmark_times_both_backends(tmp_path) -> None:
    assert generator.main(["--presets", "tiny", "--calls", "3", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "generator_cpu.json").read_text())
    row = report["presets"][0]
    assert row["preset"] == "tiny" and set(row["backends"]) == {"ort-cpu", "torch-eager"}
    assert row["backends"]["ort-cpu"]["p50_ms"] > 0 and row["speedup_vs_torch"] > 0
    assert "ort-cpu" in (tmp_path / "generator_cpu.md").read_text()
