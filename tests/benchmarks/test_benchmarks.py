"""The benchmarks run end to end at tiny sizes and write well-formed results."""

from __future__ import annotations

import json

import pytest

from benchmarks import label_map, runners


def test_label_map_benchmark_writes_json_and_markdown(tmp_path) -> None:
    assert label_map.main(["--frames", "24", "--sizes", "64", "--out-dir", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "label_map.json").read_text())
    assert report["sizes"]["64"]["speedup_median"] > 0
    assert "| 64 |" in (tmp_path / "label_map.md").read_text()


def test_runner_benchmark_times_every_variant_against_the_baseline(tmp_path) -> None:
    assert runners.main(["--presets", "tiny", "--calls", "3", "--warmup", "1",
                         "--out", str(tmp_path)]) == 0
    device = runners.device_slug()
    report = json.loads((tmp_path / f"{device}.json").read_text())
    rows = report["generators"][0]["results"]
    assert rows[0]["variant"].endswith("(baseline)")
    assert rows[0]["speedup_vs_baseline"] == 1.0
    assert {r["backend"] for r in rows} >= {"torch", "ort-cpu"}
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
    pose = {(r["model"].split(",")[0], r["backend"]) for r in report["pose"]}
    assert ("landmark model", "ort-cpu") in pose and ("detector", "ort-cpu") in pose
    assert any(b == "mediapipe" for _, b in pose)
    assert "vs baseline" in (tmp_path / f"{device}.md").read_text()


def _page_run(browser: str, fps: float, p50: float | None, reference: float,
              avatar: str = "demo-live", path: str = "frames") -> dict:
    return {"browser": browser, "avatar": avatar, "send_path": path, "decoded_fps": fps,
            "presented_fps": fps - 1,
            "glass_to_glass_ms": {"p50_ms": p50, "p95_ms": None if p50 is None else p50 + 50},
            "server": {"fps_out": fps, "latency": {"p50_ms": 90.0}}, "reference_ms": reference}


def test_browser_results_list_every_run_under_the_median_of_each_column() -> None:
    from benchmarks import browser

    runs = [_page_run("chromium", 24.0, 150.0, 20.0),
            _page_run("firefox", 18.0, None, 21.0, path="canvas"),
            _page_run("chromium", 20.0, 160.0, 20.0, avatar="demo"),
            _page_run("chromium", 28.0, 110.0, 18.0),
            _page_run("chromium", 22.0, 180.0, 18.0, path="canvas"),
            _page_run("chromium", 26.0, 170.0, 19.0),
            {**_page_run("chromium", 29.0, 130.0, 18.5), "transport": "whip",
             "backend": "ov-cpu"}]
    chromium = [r for r in runs if r["browser"] == "chromium" and r["avatar"] == "demo-live"
                and r["send_path"] == "frames" and "transport" not in r]
    assert browser.median_row(chromium) == [26.0, 25.0, 150.0, 200.0, 26.0, 90.0, 19.0]
    assert browser.median_row([runs[1]])[2:4] == [None, None]  # no latency samples
    text = browser.markdown({"command": "python -m benchmarks.browser", "runs": runs,
                             "machine": {"cpu": "test CPU", "cores": 2},
                             "avatars": ["demo-live", "demo"], "seconds": 20.0,
                             "missing": ["safari"]})
    lines = text.splitlines()
    assert ("| chromium | demo-live | frames | offer | — | **median of 3** | 26.0 | 25.0 | 150 "
            "| 200 | 26.0 | 90 | 19.0 |") in lines
    assert "| | | | | | 2 | 28.0 | 27.0 | 110 | 160 | 28.0 | 90 | 18.0 |" in lines
    assert ("| chromium | demo-live | canvas | offer | — | **median of 1** | 22.0 | 21.0 | 180 "
            "| 230 | 22.0 | 90 | 18.0 |") in lines
    assert ("| firefox | demo-live | canvas | offer | — | **median of 1** | 18.0 | 17.0 | — | — "
            "| 18.0 | 90 | 21.0 |") in lines
    assert ("| chromium | demo | frames | offer | — | **median of 1** | 20.0 | 19.0 | 160 | 210 "
            "| 20.0 | 90 | 20.0 |") in lines
    assert ("| chromium | demo-live | frames | whip | ov-cpu | **median of 1** | 29.0 | 28.0 "
            "| 130 | 180 | 29.0 | 90 | 18.5 |") in lines
    assert any(line.startswith("| safari | | | | | not installed |") for line in lines)
    assert "generator of `demo-live`" in text


def test_framing_benchmark_measures_every_run_on_short_clips(tmp_path) -> None:
    from benchmarks import framing
    from engine.avatar import DEMO_LIVE_AVATAR

    assert framing.main(["--seconds", "1", "--fps", "8", "--parts", "desk", "two",
                         "--desk-clips", "1", "--avatars", str(DEMO_LIVE_AVATAR),
                         "--live-pose-backend", "mediapipe", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "framing.json").read_text())
    clip = "desk-wave-640x360-8fps"
    assert [(r["clip"], r["path"]) for r in report["desk"]] == [(clip, "render"),
                                                                (clip, "live")]
    for row in report["desk"]:
        assert row["frames"] > 0 and 0.0 <= row["stands"] <= 1.0
        assert row["arm_frames"] > 0 and row["arm_median"] >= 0.0
    assert [r["path"] for r in report["two"]] == ["render", "live"]
    assert all(0.0 <= r[k] <= 1.0 for r in report["two"]
               for k in ("follows", "follows_as_labelled", "engine_follows"))
    assert sorted(report["verdict"]) == [
        "desk: arm residual (median)", "desk: stands on both legs",
        "two people: follows the dancer, engine output",
        "two people: follows the dancer, re-detected",
        "two people: follows the dancer, re-detected, labels as found"]
    text = (tmp_path / "framing.md").read_text()
    assert "## 1. Desk view" in text and "## 3. Two people" in text
    assert f"| {clip} | render | demo-live | 8 / 8 |" in text


def test_browser_benchmark_refuses_an_unknown_backend(capsys) -> None:
    from benchmarks import browser

    with pytest.raises(SystemExit):
        browser.main(["--backend", "nope", "--browsers", "chromium"])
    assert "unknown backend 'nope'" in capsys.readouterr().err
