"""`dancenow avatar create`: the budget arithmetic, the work folder's lock, the input
checks, and the whole job on a short synthetic clip, killed in the middle and resumed."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from dancenow.cli import main
from engine.errors import InputError
from engine.video import open_writer
from synth.appearance import get_actor
from synth.clip import ClipSpec, synth_clip
from synth.room import standard_room
from train.job import budget as B
from train.job.checks import check_videos
from train.job.state import JobBusy, JobState, WorkLock
from train.job.timing import other_precision_warning, seconds_per_step

REPO = Path(__file__).resolve().parents[2]

# -- the budget arithmetic ----------------------------------------------------------------


def test_parse_budget() -> None:
    assert B.parse_budget("45m") == 2700
    assert B.parse_budget("3h") == 10800
    assert B.parse_budget("1h30m") == 5400
    assert B.parse_budget("90s") == 90
    assert B.parse_budget("1.5h") == 5400
    for bad in ("45", "", "m", "-3h", "0m", "3 days"):
        with pytest.raises(InputError, match="--budget"):
            B.parse_budget(bad)


def test_recipes_follow_the_demo_avatars() -> None:
    assert [(s.name, s.preset, s.steps) for s in B.recipe("cpu-rt")] == [
        ("global", "cpu-rt", 13500), ("temporal", "cpu-rt", 1500), ("face", "cpu-rt", 3000)]
    live = B.recipe("cpu-live")
    assert [(s.name, s.preset, s.stage, s.run, s.steps, s.init_from) for s in live] == [
        ("global", "cpu-rt", "global", "run-cpu-rt", 13500, None),
        ("temporal", "cpu-rt", "temporal", "run-cpu-rt", 1500, None),
        ("live-temporal", "cpu-live", "temporal", "run", 2500, "run-cpu-rt"),
        ("face", "cpu-live", "face", "run", 3000, None)]
    assert B.runs_in_order(live) == ["run-cpu-rt", "run"]
    # only the thinned stage learns from the generator it starts from as well
    assert [s.distill for s in live] == [0.0, 0.0, B.LIVE_DISTILL, 0.0]
    assert all(s.distill == 0.0 for s in B.recipe("cpu-rt"))
    assert [s.steps for s in B.recipe("balanced")] == [40000, 4444, 8889]


# Seconds per step of the demo avatar's run on this machine (README: 13500 global steps
# in 47.4 min, 1500 temporal in 11.0 min, 3000 face in 4.6 min).
RT_STEP_S = {"global": 47.4 * 60 / 13500, "temporal": 11.0 * 60 / 1500,
             "face": 4.6 * 60 / 3000}


def test_a_short_budget_shortens_every_stage_alike() -> None:
    specs = B.recipe("cpu-rt")
    full = B.recipe_seconds(specs, RT_STEP_S)
    assert full == pytest.approx(63.0 * 60)
    steps = B.fit_steps(specs, RT_STEP_S, full / 3)
    assert steps == {"global": 4500, "temporal": 500, "face": 1000}
    seconds = sum(steps[s.name] * RT_STEP_S[s.name] for s in specs)
    assert seconds <= full / 3
    # the time shares of the recipe: about 75% global, 17% temporal, 7% face
    shares = {s.name: steps[s.name] * RT_STEP_S[s.name] / seconds for s in specs}
    assert shares["global"] == pytest.approx(0.752, abs=0.005)
    assert shares["temporal"] == pytest.approx(0.175, abs=0.005)
    assert shares["face"] == pytest.approx(0.073, abs=0.005)


def test_a_long_budget_lengthens_the_global_stage_only() -> None:
    specs = B.recipe("cpu-live")
    per_step = {"global": 0.2, "temporal": 0.4, "live-temporal": 0.5, "face": 0.1}
    full = B.recipe_seconds(specs, per_step)
    steps = B.fit_steps(specs, per_step, full + 600)
    assert steps == {"global": 13500 + 3000, "temporal": 1500, "live-temporal": 2500,
                     "face": 3000}
    # at most three times the recipe's global stage: a larger budget ends early
    assert B.fit_steps(specs, per_step, full * 100)["global"] == 3 * 13500


def test_a_stage_faster_than_timed_may_run_what_a_larger_budget_gives_it() -> None:
    glob, temporal, live, face = B.recipe("cpu-live")
    assert B.longest(glob, 8000) == 3 * 13500  # the global stage's growth cap
    assert B.longest(temporal, 900) == 1500 and B.longest(live, 1500) == 2500
    assert B.longest(face, 3000) == 3000
    assert B.longest(face, 4000) == 4000  # never below its plan


def test_a_budget_without_training_time_is_refused() -> None:
    with pytest.raises(InputError, match="no time to train"):
        B.fit_steps(B.recipe("tiny"), {"global": 1, "temporal": 1, "face": 1}, 0)
    # every stage keeps at least one step
    assert B.fit_steps(B.recipe("tiny"), {"global": 1, "temporal": 1, "face": 1}, 1) == {
        "global": 1, "temporal": 1, "face": 1}


def test_training_time_finish_time_and_cadence() -> None:
    # 45 minutes, 5 spent preparing and timing, 4 kept for export, evaluation and report
    assert B.training_seconds(2700, 300, 240) == pytest.approx(2160 * (1 - B.SAFETY))
    start = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert B.finish_time(start, 2700) == datetime(2026, 1, 1, 12, 45, tzinfo=UTC)
    assert B.checkpoint_every(0.2, 60, 13500) == 300
    assert B.checkpoint_every(0.2, 60, 100) == 100
    assert B.checkpoint_every(5.0, 1, 100) == 1
    assert B.log_every(0.2, 1000) == 5 and B.log_every(0.001, 1000) == 25
    assert B.format_duration(42) == "42s" and B.format_duration(192) == "3m12s"
    assert B.format_duration(3900) == "1h05m"


def test_seconds_per_step_from_the_training_log() -> None:
    # two warm-up steps of 2 s, then steps of 0.5 s, one of them slowed down to 3 s
    elapsed = {1: 2.0, 2: 4.0, 3: 4.5, 4: 5.0, 5: 8.0, 6: 8.5, 7: 9.0}
    lines = [{"step": s, "steps_per_s": s / t} for s, t in elapsed.items()]
    assert seconds_per_step(lines, warmup=2) == pytest.approx(0.5)
    # a stage's own slower steps (every fourth at 1 s) count: the plan pays for them
    deltas = [0.5, 0.5, 0.5, 1.0] * 3
    times = np.cumsum([2.0, 2.0, *deltas])
    lines = [{"step": s, "steps_per_s": s / t} for s, t in enumerate(times, start=1)]
    assert seconds_per_step(lines, warmup=2) == pytest.approx(0.625)


def test_a_resume_in_another_precision_is_told_the_plan_stands() -> None:
    assert other_precision_warning("bf16", "bf16") is None
    assert other_precision_warning(None, "fp32") is None  # a job timed before it was recorded
    warning = other_precision_warning("bf16", "fp32")
    assert warning is not None and "timed in bf16 and now train in fp32" in warning


# -- the job file and the lock ------------------------------------------------------------


def test_the_lock_refuses_a_second_job_and_frees_itself(tmp_path) -> None:
    path = tmp_path / "job.lock"
    with WorkLock(path):
        assert path.read_text().strip() == str(os.getpid())
        with pytest.raises(JobBusy, match=f"PID {os.getpid()}"), WorkLock(path):
            pass
    with WorkLock(path):  # released: taken again
        pass


def test_a_lock_left_by_a_dead_process_is_stale(tmp_path) -> None:
    path = tmp_path / "job.lock"
    proc = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from train.job.state import WorkLock; "
        f"lock = WorkLock(Path({str(path)!r})); lock.acquire(); print('held', flush=True); "
        "time.sleep(60)")], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(JobBusy, match=f"PID {proc.pid}"):
            WorkLock(path).acquire()
    finally:
        proc.kill()
        proc.wait()
    assert path.read_text().strip() == str(proc.pid)  # the file still names it
    with WorkLock(path):
        assert path.read_text().strip() == str(os.getpid())


def test_job_state_records_attempts(tmp_path) -> None:
    state = JobState.new(tmp_path / "job.json", {"videos": ["a.mp4"], "heldout_videos": [],
                                                 "preset": "tiny"})
    clock = state.begin("global", from_step=0)
    state.abort("global", clock, "interrupted")
    clock = state.begin("global", from_step=20)
    state.finish("global", clock)
    again = JobState.read(tmp_path / "job.json")
    phase = again.data["phases"]["global"]
    assert again.done("global") and [a["outcome"] for a in phase["attempts"]] == [
        "interrupted", "done"]
    assert [a["from_step"] for a in phase["attempts"]] == [0, 20]


# -- input checks, before any training ----------------------------------------------------


def _create(*args: str) -> list[str]:
    return ["avatar", "create", "--preset", "tiny", *args]


def test_a_clip_without_a_person_is_refused(tmp_path, capsys) -> None:
    clip = tmp_path / "empty.mp4"
    room = standard_room(get_actor("target"), 128, 128)
    with open_writer(clip, 128, 128, 10) as writer:
        for _ in range(60):
            writer.write(room)
    work = tmp_path / "work"
    assert main(_create(str(clip), "-o", str(tmp_path / "a"), "--work", str(work))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no person found" in err[0] and "empty.mp4" in err[0]
    assert not (work / "data").exists() and not (tmp_path / "a").exists()


def test_a_short_clip_is_refused_with_the_seconds_needed(tmp_path, capsys) -> None:
    clip = tmp_path / "short.mp4"
    synth_clip(ClipSpec(actor="target", motion="dance", seconds=3.0, size=128, fps=10,
                        seed=1), clip, progress=False)
    assert main(_create(str(clip), "-o", str(tmp_path / "a"), "--work",
                        str(tmp_path / "w"))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3.0 s of footage" in err[0] and "at least 5 s" in err[0]


def test_an_unwritable_output_is_refused(tmp_path, capsys) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    assert main(_create("clip.mp4", "-o", str(blocker / "avatars" / "a"), "--work",
                        str(tmp_path / "w"))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write the avatar folder" in err[0]
    assert "is not a folder" in err[0]


@pytest.mark.parametrize("framing", ["zoom", "full"])
def test_a_moving_camera_is_a_warning(tmp_path, caplog, framing) -> None:
    clip = tmp_path / f"{framing}.mp4"
    synth_clip(ClipSpec(actor="target", motion="dance", seconds=7.0, width=640, height=360,
                        fps=15, framing=framing, seed=2), clip, progress=False)
    with caplog.at_level(logging.WARNING, logger="train.job.checks"):
        scan, = check_videos([clip])
    moving = [r for r in caplog.records if "camera seems to move" in r.getMessage()]
    assert scan.camera_moved is not None
    assert bool(moving) == (framing == "zoom")


# -- the whole job, interrupted and resumed -----------------------------------------------


@pytest.fixture(scope="module")
def clip6(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("avatar-job") / "target.mp4"
    synth_clip(ClipSpec(actor="target", motion="dance", seconds=6.0, size=256, fps=15,
                        seed=5), out, progress=False)
    return out


def _job(work: Path) -> dict:
    try:
        return json.loads((work / "job.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def test_create_killed_in_the_middle_then_resumed(tmp_path, clip6, capsys) -> None:
    bundle, work = tmp_path / "avatars" / "tiny", tmp_path / "work"
    args = _create(str(clip6), "-o", str(bundle), "--work", str(work), "--budget", "3m",
                   "--checkpoint-seconds", "1")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_file = open(tmp_path / "first.log", "w")  # noqa: SIM115 - closed below
    first = subprocess.Popen([sys.executable, "-m", "dancenow", *args], cwd=tmp_path,
                             stdout=log_file, stderr=subprocess.STDOUT, env=env)
    try:
        # A second job into the same folder is refused while the first runs.
        deadline = time.monotonic() + 120
        while "phases" not in _job(work) and first.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert main(args) == 2
        assert "in use by another `dancenow avatar create`" in capsys.readouterr().err
        # Killed once the global stage has started and written a checkpoint.
        while first.poll() is None and time.monotonic() < deadline:
            phase = _job(work).get("phases", {}).get("global", {})
            if phase.get("status") == "running" and \
                    (work / "run" / "checkpoint-global.pt").exists():
                break
            time.sleep(0.1)
        assert first.poll() is None, (tmp_path / "first.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        log_file.close()
    killed = _job(work)
    assert killed["phases"]["global"]["status"] == "running"
    assert not bundle.exists()
    assert killed["timing"]["precision"] in ("fp32", "bf16")

    resumed = subprocess.run([sys.executable, "-m", "dancenow", *_create(
        "-o", str(bundle), "--work", str(work), "--resume")], cwd=tmp_path,
        capture_output=True, text=True, timeout=240, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "continuing the job" in resumed.stderr
    assert "were timed in" not in resumed.stderr  # the same precision as timed

    job = _job(work)
    phases = job["phases"]
    names = ["check", "prepare", "timing", "global", "temporal", "face", "export", "eval",
             "report"]
    assert sorted(phases) == sorted(names)
    for name in names:
        assert phases[name]["status"] == "done", name
        outcomes = [a["outcome"] for a in phases[name]["attempts"]]
        expected = ["running", "done"] if name == "global" else ["done"]
        assert outcomes == expected, (name, outcomes)
    # the global stage went on from its last checkpoint, not from the start
    plan = job["plan"]
    second = phases["global"]["attempts"][1]
    assert 0 < second["from_step"] < plan["steps"]["global"]
    lines = [json.loads(line) for line in
             (work / "run" / "train_log-global.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in lines]
    assert steps == sorted(set(steps)) and steps[-1] == plan["steps"]["global"]
    for spec in B.recipe("tiny"):
        import torch

        ckpt = torch.load(work / "run" / f"checkpoint-{spec.stage}.pt", weights_only=False)
        assert ckpt["step"] == plan["steps"][spec.name]
    # the plan fits the budget and was announced
    assert plan["budget_s"] == 180 and plan["estimates"]["total"] <= 180
    assert "plan (kept from the job's start)" in resumed.stderr
    # the bundle folder: the bundle and its report, nothing of the work
    files = {p.name for p in bundle.iterdir()}
    assert {"manifest.json", "generator.onnx", "face.onnx", "report.html", "report.md",
            "poster.jpg"} <= files
    assert not files & {"data", "heldout", "run", "job.json", "timing"}
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["poster"] and manifest["description"]
    heldout = manifest["metrics"]["heldout_metrics"]
    held_manifest = json.loads((work / "heldout" / "manifest.json").read_text())
    assert heldout["frames"] == held_manifest["counts"]["val"] == 9  # the last 10% of 90
    assert np.isfinite(heldout["ssim"])
    # once done, running it again does nothing
    again = subprocess.run([sys.executable, "-m", "dancenow", *_create(
        str(clip6), "-o", str(bundle), "--work", str(work))], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0 and "already created" in again.stderr


def test_held_out_videos_are_framed_like_the_training_data(tmp_path, clip6) -> None:
    from train.data import PrepareOptions, crop_windows_of, prepare
    from train.job.runner import AvatarJob, JobOptions

    # the held-out clip: the same camera, the dancer reaching wider than in training
    wide = tmp_path / "wide.mp4"
    synth_clip(ClipSpec(actor="target", motion="sidestep", seconds=3.0, size=256, fps=15,
                        seed=9), wide, progress=False)
    job = AvatarJob(JobOptions(videos=(clip6,), bundle=tmp_path / "avatar",
                               work=tmp_path / "work", preset="tiny", heldout=(wide,)),
                    exporter=None)  # type: ignore[arg-type]  # preparing exports nothing
    job._prepare([clip6], [wide])  # the job's prepare phase alone
    trained = json.loads((job.data / "manifest.json").read_text())
    held = json.loads((job.heldout / "manifest.json").read_text())
    assert crop_windows_of(held) == crop_windows_of(trained)
    # what it would have had on its own: another window
    own = prepare([wide], tmp_path / "own", PrepareOptions(size=64), progress=False)
    assert crop_windows_of(own) != crop_windows_of(trained)
    assert held["sources"][0]["path"] == str(wide.resolve())
