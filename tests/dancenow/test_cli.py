"""The command line: help for every verb, outputs, and one-line errors with exit code 2."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from dancenow.cli import VERBS, build_parser, main
from engine.keypoints import KeypointTrack


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dancenow", *args], capture_output=True,
                          text=True, timeout=300)


def test_help_lists_every_verb(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


@pytest.mark.parametrize("verb", list(VERBS))
def test_verb_help_explains_options(verb, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: dancenow " + verb in out and "options:" in out
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[verb]
    assert parser.description, f"{verb} has no description"
    for action in parser._actions:
        assert action.help and len(action.help) > 8, f"{verb} {action.dest} has no help"
        for flag in action.option_strings:
            assert flag in out


def test_synth_writes_video_and_ground_truth(tmp_path) -> None:
    out = tmp_path / "clip.mp4"
    assert main(["-q", "synth", "--actor", "target", "--motion", "kick", "--seconds", "1",
                 "--size", "128", "--fps", "10", "--seed", "4", "-o", str(out)]) == 0
    track = KeypointTrack.load(tmp_path / "clip.kp.npz")
    assert out.stat().st_size > 1000
    assert len(track) == 10 and track.size == (128, 128) and track.fps == 10


def test_synth_y4m_and_keypoints_mode(tmp_path) -> None:
    src = tmp_path / "src.y4m"
    assert main(["-q", "synth", "--seconds", "0.5", "--size", "96", "--fps", "10", "-o",
                 str(src)]) == 0
    assert src.read_bytes().startswith(b"YUV4MPEG2 W96 H96 F10:1") and b" C420\n" in \
        src.read_bytes()[:64]
    dst = tmp_path / "dst.mp4"
    assert main(["-q", "synth", "--actor", "target", "--keypoints",
                 str(tmp_path / "src.kp.npz"), "-o", str(dst)]) == 0
    a, b = KeypointTrack.load(tmp_path / "src.kp.npz"), KeypointTrack.load(tmp_path / "dst.kp.npz")
    assert len(a) == len(b) == 5 and not np.allclose(a.keypoints, b.keypoints)


def test_pose_normalize_and_labelmap(tmp_path, performer_clip) -> None:
    clip, truth = performer_clip
    kp_out = tmp_path / "est.kp.npz"
    assert main(["-q", "pose", str(clip), "-o", str(kp_out), "--overlay",
                 str(tmp_path / "ov.mp4"), "--smooth", "3"]) == 0
    est = KeypointTrack.load(kp_out)
    assert len(est) == len(truth) and est.detected().all()
    assert (tmp_path / "ov.mp4").stat().st_size > 1000
    target = tmp_path / "tgt.kp.npz"
    KeypointTrack(truth.keypoints * np.float32([1.5, 1.5, 1]), truth.fps, (384, 384)).save(target)
    norm = tmp_path / "norm.kp.npz"
    assert main(["-q", "normalize", str(kp_out), "--target", str(target), "-o", str(norm),
                 "--stats", str(tmp_path / "stats.json")]) == 0
    n = KeypointTrack.load(norm)
    assert n.size == (384, 384) and np.nanmax(n.keypoints[..., 1]) > np.nanmax(
        est.keypoints[..., 1])
    assert main(["-q", "labelmap", str(norm), "--size", "64", "-o",
                 str(tmp_path / "lm.mp4")]) == 0
    assert (tmp_path / "lm.mp4").stat().st_size > 500


def test_pose_default_output_keeps_ground_truth(tmp_path, performer_clip) -> None:
    clip, _ = performer_clip
    copy = tmp_path / "c.mp4"
    copy.write_bytes(clip.read_bytes())
    gt = tmp_path / "c.kp.npz"
    gt.write_bytes(b"ground truth")
    assert main(["-q", "pose", str(copy)]) == 0
    assert gt.read_bytes() == b"ground truth"
    assert KeypointTrack.load(tmp_path / "c.pose.kp.npz").detected().all()


@pytest.mark.parametrize("args,needle", [
    (["pose", "/nonexistent/video.mp4"], "video not found"),
    (["synth", "--keypoints", "/nonexistent.kp.npz", "-o", "x.mp4"], "not found"),
    (["synth", "--seconds", "-1", "-o", "x.mp4"], "--seconds"),
    (["synth", "-o", "x.avi"], "unsupported output format"),
    (["labelmap", "/nonexistent.kp.npz", "-o", "x.mp4"], "not found"),
    (["prepare", "/nonexistent.mp4", "-o", "x.data"], "video not found"),
    (["prepare", "/nonexistent.mp4", "--size", "100", "-o", "x.data"], "multiple of 16"),
    (["prepare", "/nonexistent.mp4", "--crop-like", ".", "-o", "x.data"],
     "not a prepared data folder"),
    (["train", ".", "-o", "x.run"], "not a prepared data folder"),
    (["eval", ".", "--data", "."], "no checkpoint"),
    (["export", ".", "-o", "x.avatar"], "no checkpoint"),
    (["build-engine", "."], "not an avatar bundle"),
    (["render", "/nonexistent.mp4", "--avatar", ".", "-o", "x.mp4"], "not an avatar bundle"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, needle) -> None:
    res = subprocess.run([sys.executable, "-m", "dancenow", *args], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("dancenow")]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.glob("x.*"))  # nothing partial left behind


def test_corrupt_video_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\xff" * 500)
    res = _run("pose", str(bad))
    assert res.returncode == 2 and "cannot open" in res.stderr and "Traceback" not in res.stderr
    dbg = _run("--debug", "pose", str(bad))
    assert dbg.returncode != 0 and "Traceback" in dbg.stderr


def test_video_without_a_person_warns_and_writes_missing_rows(tmp_path) -> None:
    from engine.video import Mp4Writer

    with Mp4Writer(tmp_path / "empty.mp4", 128, 128, 10) as w:
        for i in range(8):
            w.write(np.full((128, 128, 3), 100 + 5 * i, np.uint8))
    res = _run("pose", str(tmp_path / "empty.mp4"), "-o", str(tmp_path / "e.kp.npz"))
    assert res.returncode == 0 and "no person found" in res.stderr
    track = KeypointTrack.load(tmp_path / "e.kp.npz")
    assert len(track) == 8 and np.isnan(track.keypoints[..., :2]).all()
    assert (track.keypoints[..., 2] == 0).all()


def test_export_then_eval_and_build_engine(tmp_path, tiny_run, tiny_data) -> None:
    out = tmp_path / "avatar"
    assert main(["-q", "export", str(tiny_run), "-o", str(out), "--precision", "fp16",
                 "--no-torch"]) == 0
    assert (out / "manifest.json").is_file() and not (out / "torch").exists()
    again = _run("export", str(tiny_run), "-o", str(out))
    assert again.returncode == 2 and "--force" in again.stderr
    metrics = tmp_path / "m.json"
    assert main(["-q", "eval", str(out), "--data", str(tiny_data), "-o", str(metrics)]) == 0
    assert json.loads(metrics.read_text())["backend"] == "ort-cpu"
    no_torch = _run("eval", str(out), "--data", str(tiny_data), "--backend", "torch")
    assert no_torch.returncode == 2 and "--no-torch" in no_torch.stderr
    from engine.runners import available_backends

    if available_backends()["trt"] is not None:
        res = _run("build-engine", str(out))
        assert res.returncode == 2 and "backend trt is not available here" in res.stderr
        assert "Traceback" not in res.stderr


def test_demo_and_pipeline_benchmark_run_end_to_end(tmp_path, tiny_bundles,
                                                    monkeypatch) -> None:
    monkeypatch.setenv("DANCENOW_POSE_MODELS", str(tmp_path / "pose-models"))
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--avatar", str(tiny_bundles["fp16"]), "--seconds", "1.5",
                 "--size", "128", "-o", str(out)]) == 0
    results = json.loads((out / "demo.json").read_text())
    assert results["frames_in"] == 45 and results["frames_out"] >= 5
    assert results["frames_out"] + results["dropped"] + results["errors"] == 45
    assert (out / "demo.mp4").stat().st_size > 0
    report = tmp_path / "bench.json"
    assert main(["-q", "bench", "pipeline", "--avatar", str(tiny_bundles["fp16"]),
                 "--seconds", "1", "--size", "128", "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    for key in ("output_fps", "sequential_output_fps", "speedup"):
        assert data[key] > 0, key
    assert data["latency_ms"]["p50_ms"] <= data["latency_ms"]["p95_ms"]


@pytest.mark.parametrize("bad", ["-1", "20", "five"])
def test_serve_refuses_a_stage_nice_outside_0_to_19(bad, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["serve", "--stage-nice", bad])
    assert exc.value.code == 2
    assert "--stage-nice" in capsys.readouterr().err


def test_serve_takes_a_stage_nice() -> None:
    assert build_parser().parse_args(["serve", "--stage-nice", "5"]).stage_nice == 5
    assert build_parser().parse_args(["serve"]).stage_nice == 0


def test_crop_like_needs_a_folder_with_crop_windows(tmp_path) -> None:
    old = tmp_path / "old.data"
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format": "dancenow-data",
                                                   "sources": [{"path": "a.mp4"}]}))
    res = subprocess.run([sys.executable, "-m", "dancenow", "prepare", "/nonexistent.mp4",
                          "--crop-like", str(old), "-o", "x.data"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert res.returncode == 2
    assert "records no crop window" in res.stderr
