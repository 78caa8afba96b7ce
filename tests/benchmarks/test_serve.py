"""The load benchmark: its clients' lines, each session's row, a level's summary and
fairness, and one short run end to end against `dancenow serve` with a client process."""

from __future__ import annotations

import json

import pytest

from benchmarks import load_client, serve


def test_a_client_line_is_one_json_object() -> None:
    assert serve.parse_line(b'{"session": "s1", "secret": "x"}\n') == {"session": "s1",
                                                                        "secret": "x"}
    assert serve.parse_line('{"report": {"received_fps": 12.5}}') == {
        "report": {"received_fps": 12.5}}
    with pytest.raises(ValueError):
        serve.parse_line(b"[1, 2]\n")
    with pytest.raises(ValueError):
        serve.parse_line(b"Traceback (most recent call last):\n")


def test_fairness_is_the_lowest_share_over_the_mean() -> None:
    assert serve.fairness([15.0, 15.0]) == 1.0
    assert serve.fairness([5.0, 15.0]) == pytest.approx(0.5)
    assert serve.fairness([30.0]) == 1.0
    assert serve.fairness([]) is None
    assert serve.fairness([0.0, 0.0]) is None


def _report(fps: float, p50: float, p95: float) -> dict:
    return {"received_fps": fps, "frames": int(fps * 8), "round_trip_p50_ms": p50,
            "round_trip_p95_ms": p95, "session": f"s{fps}", "secret": "x"}


def _server(p50: float, p95: float, asked: float) -> dict:
    return {"latency": {"p50_ms": p50, "p95_ms": p95}, "send_fps_asked": asked,
            "fps_out": 10.0}


def test_a_session_row_joins_its_client_report_and_the_server_statistics() -> None:
    row = serve.session_row(2, _report(12.0, 150.0, 250.0), _server(90.0, 140.0, 14.0))
    assert row["session"] == 2 and row["id"] == "s12.0"
    assert row["received_fps"] == 12.0 and row["round_trip_p95_ms"] == 250.0
    assert row["server_latency_p50_ms"] == 90.0 and row["server_latency_p95_ms"] == 140.0
    assert row["send_fps_asked"] == 14.0 and "error" not in row
    # the session was gone from /stats: the client's numbers stand, the server's are None
    row = serve.session_row(1, _report(12.0, 150.0, 250.0), None)
    assert row["server_latency_p50_ms"] is None and "error" not in row
    failed = serve.session_row(3, None, None, "did not connect: offer refused: 503")
    assert failed["error"].startswith("did not connect") and failed["received_fps"] is None
    assert serve.session_row(4, None, None)["error"] == "no report"


def test_a_level_summary_covers_the_measured_sessions_and_counts_the_failed() -> None:
    rows = [serve.session_row(1, _report(10.0, 200.0, 300.0), _server(100.0, 150.0, 12.0)),
            serve.session_row(2, _report(20.0, 120.0, 900.0), _server(180.0, 260.0, 20.0)),
            serve.session_row(3, None, None, "did not connect: TimeoutError")]
    level = serve.summarize_level(3, rows)
    assert level["measured"] == 2 and level["failed"] == 1
    assert level["errors"] == ["did not connect: TimeoutError"]
    assert level["received_fps"] == [10.0, 20.0] and level["mean_fps"] == 15.0
    assert level["fairness"] == pytest.approx(10.0 / 15.0, abs=1e-3)
    assert level["round_trip_p50_ms"] == 200.0 and level["round_trip_p95_ms"] == 900.0
    assert level["server_latency_p50_ms"] == 180.0 and level["server_latency_p95_ms"] == 260.0
    nobody = serve.summarize_level(2, [serve.session_row(i, None, None, "x") for i in (1, 2)])
    assert nobody["measured"] == 0 and nobody["failed"] == 2
    assert nobody["mean_fps"] is None and nobody["fairness"] is None
    assert nobody["round_trip_p95_ms"] is None


def test_the_markdown_says_which_sessions_failed() -> None:
    rows = [serve.session_row(1, _report(10.0, 200.0, 300.0), _server(100.0, 150.0, 12.0)),
            serve.session_row(2, None, None, "did not connect: offer refused: 503")]
    level = {**serve.summarize_level(2, rows), "clients": rows, "reference_ms": 17.0}
    report = {"command": "python -m benchmarks.serve", "server_url": None,
              "machine": {"cpu": "cpu", "cores": 2}, "avatar": "demo-live",
              "backend": "ort-cpu", "pose_backend": "ort-cpu", "seconds": 8.0,
              "warmup": 3.0, "frame_size": 480, "stage_nice": 0, "levels": [level]}
    text = serve.markdown(report)
    assert "| 2 | 1; 1 failed | 10.0 | 10.0 | 1.00 | 200 | 300 | 100 | 150 | 17.0 |" in text
    assert "| 2 | 2 | failed: did not connect: offer refused: 503 |" in text


def test_a_client_measures_only_the_frames_of_its_window() -> None:
    arrivals = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    trips = [(t, 0.1 * i) for i, t in enumerate(arrivals)]
    report = load_client.window_report(arrivals, trips, start=1.0, end=3.0)
    assert report["frames"] == 5 and report["received_fps"] == 2.5
    assert report["round_trips"] == 5
    assert report["round_trip_p50_ms"] == 300.0
    assert report["round_trip_p50_ms"] <= report["round_trip_p95_ms"] <= 500.0
    empty = load_client.window_report([], [], start=0.0, end=2.0)
    assert empty["received_fps"] == 0.0 and empty["round_trip_p50_ms"] is None


def test_the_benchmark_measures_one_session_end_to_end(tmp_path) -> None:
    assert serve.main(["--sessions", "1", "--seconds", "3", "--warmup", "1",
                       "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "serve.json").read_text())
    [level] = report["levels"]
    assert level["sessions"] == 1 and level["measured"] == 1 and level["failed"] == 0
    [row] = level["clients"]
    assert row["received_fps"] > 0 and row["frames"] > 0
    assert 0 < row["round_trip_p50_ms"] <= row["round_trip_p95_ms"]
    assert row["server_latency_p50_ms"] > 0
    assert level["fairness"] == 1.0
    assert "| 1 | 1 |" in (tmp_path / "serve.md").read_text()


def test_the_server_latency_of_a_level_leaves_the_warm_up_out() -> None:
    from benchmarks.serve import merged_latency, session_row

    polls = [{"p50_ms": 90.0, "p95_ms": 150.0}, {"p50_ms": 70.0, "p95_ms": 210.0},
             {"p50_ms": 80.0, "p95_ms": 120.0}]
    assert merged_latency(polls) == {"p50_ms": 80.0, "p95_ms": 210.0}
    server = {"latency": {"p50_ms": 900.0, "p95_ms": 3000.0},  # since the start
              "measured_latency": merged_latency(polls)}
    row = session_row(1, {"received_fps": 5.0}, server)
    assert row["server_latency_p50_ms"] == 80.0 and row["server_latency_p95_ms"] == 210.0


def test_what_the_cluster_adds_is_the_difference_of_the_two_ways() -> None:
    from benchmarks.serve import cluster_added, summarize_level

    def rows(answers: list[float], trips: list[float]) -> list[dict]:
        return [{"session": i, "received_fps": 10.0, "answer_ms": a, "round_trip_p50_ms": t,
                 "round_trip_p95_ms": t + 10} for i, (a, t) in enumerate(zip(answers, trips,
                                                                          strict=True))]

    single = summarize_level(3, rows([900.0, 1000.0, 1100.0], [100.0, 120.0, 140.0]))
    cluster = summarize_level(3, rows([2900.0, 3000.0, 3500.0], [101.0, 124.0, 150.0]))
    assert single["answer_ms_p50"] == 1000.0 and cluster["round_trip_p50_ms_median"] == 124.0
    assert cluster_added(single, cluster) == {"sessions": 3, "answer_ms_added": 2000.0,
                                              "round_trip_p50_ms_added": 4.0}
    assert cluster_added(single, summarize_level(3, []))["answer_ms_added"] is None
