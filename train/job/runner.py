"""The avatar job: videos in, a bundle with its report out, resumable at every phase.

Phases, in order, each recorded in `job.json` (`train.job.state`) and skipped once done:
`check` (the input checks), `prepare` (the data folder and the held-out one), `timing`
(a few steps of each stage), the training stages of the preset's recipe
(`train.job.budget.recipe`), `export` (the bundle, with its parity check), `eval` (the
bundle on the held-out frames) and `report` (`train.report`). The plan (step counts,
estimates, the finish time) is made once, after the timing, and kept: a resumed job
trains the same steps, each stage from its last checkpoint.

Work folder layout: `data/`, `heldout/`, `timing/`, the run folders (`run/`, and
`run-cpu-rt/` for `cpu-live`), `heldout_metrics.json`, `job.json`, `job.lock`. The
bundle folder gets the bundle and the report only.

Exporting belongs to the `export` package, which sits above this one: the caller
passes the export step in (`Exporter`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from engine.errors import InputError
from train import precision as step_precision
from train.data import PreparedData, PrepareOptions, crop_windows_of, prepare
from train.job import budget as B
from train.job.checks import (
    VideoScan,
    check_prepared,
    check_videos,
    check_writable,
    pose_seconds,
    total_frames,
)
from train.job.heldout import write_heldout
from train.job.progress import JobProgress, TrainLogFollower
from train.job.state import JobState, PhaseClock, WorkLock
from train.job.timing import TIMING_STEPS, other_precision_warning, time_stages
from train.presets import get_preset
from train.trainer import (
    TrainConfig,
    Trainer,
    load_checkpoint,
    saved_setting,
    training_device,
)

log = logging.getLogger(__name__)

# export(run folder, bundle folder, precision): writes the bundle (replacing it)
Exporter = Callable[[Path, Path, str], None]
BEFORE = ("check", "prepare", "timing")
AFTER = ("export", "eval", "report")
TIMING_SETUP_S = 3.0  # estimate of one stage's set-up before the timing measured it
PACE_TOLERANCE = 0.2  # a stage whose steps took 20% more or less than timed re-plans the rest
MIN_PACE_STEPS = 50  # ...when it ran at least this many steps (the first steps of a stage
MIN_PACE_S = 20.0  # are slower) for at least this long


@dataclass(frozen=True)
class JobOptions:
    videos: tuple[Path, ...]  # the target's videos (empty: those of the job being resumed)
    bundle: Path  # the avatar bundle folder to write
    work: Path  # data, runs and the job file
    preset: str = "cpu-live"
    budget: float | None = None  # seconds for the whole job; None: the recipe's steps
    heldout: tuple[Path, ...] = ()  # whole videos held out instead of each video's end
    checkpoint_seconds: float = 60.0  # an interruption loses at most about this much
    precision: str = "fp16"  # of the exported bundle
    train_precision: str = "auto"  # of the training steps (train.precision)
    backend: str = "ort-cpu"  # the evaluation's runner
    resume: bool = False  # a job must exist in the work folder
    bar: bool = False  # a one-line display on the terminal (else log lines)


def _local(dt: datetime) -> str:
    return dt.astimezone().strftime("%H:%M %Z")


class AvatarJob:
    """One `dancenow avatar create`; `run()` returns the report's path."""

    def __init__(self, options: JobOptions, exporter: Exporter) -> None:
        self.o = options
        self.export = exporter
        self.specs = B.recipe(options.preset)
        self.size = get_preset(options.preset).generator.resolution
        self.data = options.work / "data"
        self.heldout = options.work / "heldout"
        self.progress: JobProgress | None = None
        self.scans: list[VideoScan] = []

    # -- the job ------------------------------------------------------------------------
    def run(self) -> Path:
        check_writable(self.o.bundle, "avatar folder")
        check_writable(self.o.work, "work folder")
        self.o.work.mkdir(parents=True, exist_ok=True)
        with WorkLock(self.o.work / "job.lock"):
            state = self._open_state()
            self._check_bundle_folder(state)
            if all(state.done(p) for p in self._phase_names(state)) and \
                    not (self.o.bundle / "manifest.json").is_file():
                log.info("%s is gone: exporting it again", self.o.bundle)
                for name in AFTER:
                    state.phase(name)["status"] = "pending"
            if all(state.done(p) for p in self._phase_names(state)):
                report = self.o.bundle / "report.html"
                log.info("%s is already created (report: %s); remove %s to create it again",
                         self.o.bundle, report, self.o.work / "job.json")
                return report
            return self._run(state)

    def _phase_names(self, state: JobState) -> list[str]:
        return [*BEFORE, *(s.name for s in self.specs), *AFTER]

    def _run(self, state: JobState) -> Path:
        videos = [Path(v) for v in state.data["videos"]]
        held = [Path(v) for v in state.data["heldout_videos"]]
        if not state.done("check"):
            with self._phase(state, "check"):
                state.data["scans"] = [s.to_dict() for s in check_videos(videos, held)]
        scans = [VideoScan(**{**s, "frame_size": tuple(s["frame_size"])})
                 for s in state.data["scans"]]
        self.scans = scans
        self._announce(state, scans)
        self.progress = JobProgress(self._progress_phases(state, scans), self.o.bar,
                                    spent=sum(state.all_seconds().values()))
        with self.progress.shown():
            if not state.done("prepare"):
                with self._phase(state, "prepare"):
                    self._prepare(videos, held)
            if not state.done("timing"):
                with self._phase(state, "timing"):
                    per_step, setup, ran_in = time_stages(
                        self.data, self.o.work / "timing", self.specs, self.o.train_precision)
                    state.data["timing"] = {"seconds_per_step": per_step,
                                            "setup_seconds": setup, "steps": TIMING_STEPS,
                                            "precision": ran_in}
            else:
                self._warn_other_precision(state)
            if "plan" not in state.data:
                state.data["plan"] = self._plan(state, scans)
                state.save()
            else:
                self._log_plan(state.data["plan"], resumed=True)
            self.progress.replan(self._progress_phases(state, scans))
            plan = state.data["plan"]
            for spec in self.specs:
                if not state.done(spec.name):
                    self._train(state, spec, plan)
            if not state.done("export"):
                with self._phase(state, "export"):
                    self.export(self.o.work / B.FINAL_RUN, self.o.bundle, self.o.precision)
            metrics_path = self.o.work / "heldout_metrics.json"
            if not state.done("eval"):
                with self._phase(state, "eval"):
                    self._evaluate(metrics_path)
            metrics = json.loads(metrics_path.read_text())
            if not state.done("report"):
                with self._phase(state, "report"):
                    state.data["report"] = str(self._report(state, metrics))
        state.data["finished"] = datetime.now().astimezone().isoformat(timespec="seconds")
        state.save()
        total = sum(state.all_seconds().values())
        log.info("avatar %s created in %s (planned %s); report: %s; held-out SSIM %.3f, face "
                 "SSIM %s", self.o.bundle, B.format_duration(total),
                 B.format_duration(plan["estimates"]["total"]), state.data["report"],
                 metrics["ssim"], "n/a" if metrics.get("face_ssim") is None
                 else f"{metrics['face_ssim']:.3f}")
        return Path(state.data["report"])

    @contextlib.contextmanager
    def _phase(self, state: JobState, name: str, from_step: int | None = None,
               steps: int = 0) -> Iterator[PhaseClock]:
        clock = state.begin(name, from_step)
        if self.progress is not None:
            self.progress.start(name, steps, from_step or 0)
        try:
            yield clock
        except KeyboardInterrupt:
            state.abort(name, clock, "interrupted")
            log.warning("%s interrupted; run the same command again (or with --resume) to "
                        "continue", name)
            raise
        except BaseException:
            state.abort(name, clock, "failed")
            raise
        state.finish(name, clock)
        if self.progress is not None:
            self.progress.end()

    # -- job file and folders -----------------------------------------------------------
    def _identity(self) -> dict | None:
        if not self.o.videos:
            return None
        return {"videos": [str(v.resolve()) for v in self.o.videos],
                "heldout_videos": [str(v.resolve()) for v in self.o.heldout],
                "preset": self.o.preset}

    def _open_state(self) -> JobState:
        path = self.o.work / "job.json"
        state = JobState.read(path)
        identity = self._identity()
        bundle = str(self.o.bundle.resolve())
        if state is None:
            if identity is None:
                raise InputError(f"{self.o.work} holds no job to resume: give the videos")
            return JobState.new(path, {**identity, "bundle": bundle,
                                       "budget_s": self.o.budget})
        if identity is not None and state.identity() != identity:
            raise InputError(f"{self.o.work} holds a job for other videos or another preset "
                             f"({state.data['preset']}): choose another --work, or remove it "
                             "to start over")
        if state.data.get("bundle") != bundle:
            raise InputError(f"{self.o.work} holds the job of {state.data.get('bundle')}: "
                             "choose another --work for this avatar")
        if state.data["preset"] != self.o.preset and identity is not None:
            raise InputError(f"{self.o.work} holds a {state.data['preset']} job")
        self.specs = B.recipe(state.data["preset"])
        self.size = get_preset(state.data["preset"]).generator.resolution
        if self.o.budget is not None and state.data.get("budget_s") != self.o.budget:
            if "plan" in state.data:
                log.warning("the job keeps the plan it made for its first budget; remove %s "
                            "to plan again", path)
            else:  # not planned yet: the new budget counts
                state.data["budget_s"] = self.o.budget
                state.save()
        log.info("continuing the job in %s (started %s)", self.o.work, state.data["created"])
        return state

    def _check_bundle_folder(self, state: JobState) -> None:
        bundle = self.o.bundle
        ours = bool(state.phase("export")["attempts"])
        if bundle.exists() and not ours and (not bundle.is_dir() or any(bundle.iterdir())):
            raise InputError(f"{bundle} exists and is not empty: choose another -o (nothing "
                             "there is replaced)")

    # -- phases -------------------------------------------------------------------------
    def _prepare(self, videos: list[Path], held: list[Path]) -> None:
        from train.coverage import format_coverage

        options = PrepareOptions(size=self.size)
        manifest = prepare(videos, self.data, options, progress=False)
        check_prepared(manifest)
        if held:
            # the training data's framing: the avatar is judged on what it renders
            check_prepared(prepare(held, self.heldout, options, progress=False,
                                   windows=crop_windows_of(manifest)))
        else:
            write_heldout(self.data, self.heldout)
        counts = manifest["counts"]
        log.info("prepared %d frames: %d with a person, %d to train on; held out: %s",
                 manifest["frames"], counts["detected"], counts["train"],
                 self._heldout_rule(held))
        if "coverage" in manifest:
            log.info("%s", format_coverage(manifest["coverage"]))

    def _heldout_rule(self, held: list[Path]) -> str:
        if held:
            return ", ".join(p.name for p in held)
        return f"the last {PrepareOptions().val_fraction:.0%} of each video"

    def _train(self, state: JobState, spec: B.StageSpec, plan: dict) -> None:
        steps = int(plan["steps"][spec.name])
        per_step = float(plan["step_seconds"][spec.name])
        preset = get_preset(spec.preset)
        run = self.o.work / spec.run
        resume = (run / f"checkpoint-{spec.stage}.pt").exists()
        distill = spec.distill
        if resume and distill and saved_setting(load_checkpoint(
                run / f"checkpoint-{spec.stage}.pt")["train_config"], "lambda_distill") == 0:
            log.warning("%s was started without distillation: it goes on without", spec.name)
            distill = 0.0
        config = TrainConfig(
            preset=spec.preset, stage=spec.stage, iters=steps, batch=preset.batch,
            checkpoint_every=B.checkpoint_every(per_step, self.o.checkpoint_seconds, steps),
            log_every=B.log_every(per_step, steps), sample_every=B.sample_every(steps),
            init_from=str(self.o.work / spec.init_from) if spec.init_from else None,
            lambda_distill=distill, precision=self.o.train_precision)

        def shortened(new_steps: int) -> None:
            plan["steps"][spec.name] = new_steps
            state.save()
            if self.progress is not None:
                self.progress.replan(self._progress_phases(state, self.scans))

        trainer = Trainer(self.data, run, config, resume=resume, progress=False,
                          finish_by=self._stage_deadline(state, spec, plan),
                          on_shorten=shortened, max_iters=B.longest(spec, steps))
        start = trainer.step
        with self._phase(state, spec.name, start, steps) as clock, TrainLogFollower(
                run / f"train_log-{spec.stage}.jsonl",
                on_line=lambda step, record: self.progress.update(step, record),
                on_tick=clock.tick):
            trainer.run()
        done = trainer.step - start  # a deadline may have changed the stage's length
        if done >= MIN_PACE_STEPS and clock.elapsed >= MIN_PACE_S:
            self._keep_pace(state, spec, (clock.elapsed / done)
                            / float(plan["step_seconds"][spec.name]))

    def _warn_other_precision(self, state: JobState) -> None:
        """A resumed job whose steps were timed in another precision than they now run in
        (`--train-precision`) keeps its plan: say so."""
        warning = other_precision_warning(state.data["timing"].get("precision"),
                                          step_precision.resolve(self.o.train_precision,
                                                                 training_device()))
        if warning is not None:
            log.warning("%s", warning)

    def _stage_deadline(self, state: JobState, spec: B.StageSpec, plan: dict) -> float | None:
        """With a budget, when the stage must end (a `time.time()`) for the phases after
        it to fit in what is left: a machine slower than timed shortens the stage instead
        of the job running over (None without a budget)."""
        if plan.get("budget_s") is None:
            return None
        later = [s for s in self.specs if not state.done(s.name) and s.name != spec.name]
        after = sum(plan["estimates"][s.name] for s in later) + sum(
            plan["estimates"][p] for p in AFTER)
        left = plan["budget_s"] * (1 - B.SAFETY) - sum(state.all_seconds().values())
        return time.time() + max(left - after, 0.0)

    def _keep_pace(self, state: JobState, done: B.StageSpec, ratio: float) -> None:
        """After a stage ran `ratio` times as long per step as timed: with a budget, fit the
        stages not started yet to the time left at that pace; without, say when the job
        will now end."""
        plan = state.data["plan"]
        left = [s for s in self.specs if not state.done(s.name)]
        if not left or abs(ratio - 1.0) <= PACE_TOLERANCE:
            return
        ratio = min(max(ratio, 0.2), 10.0)
        per_step = {s.name: plan["step_seconds"][s.name] * ratio for s in left}
        setup = state.data["timing"]["setup_seconds"]
        after = {p: plan["estimates"][p] * ratio for p in AFTER}
        spent = sum(state.all_seconds().values())
        how = f"{ratio:.1f}x the time per step timed" if ratio > 1 else \
            f"{1 / ratio:.1f}x faster than timed"
        if plan["budget_s"] is not None:
            train = B.training_seconds(plan["budget_s"], spent,
                                       sum(after.values()) + sum(setup[s.name] for s in left))
            steps = B.fit_steps(left, per_step, max(train, 1e-3))
            changes = ", ".join(f"{s.name} {steps[s.name]} steps (was {plan['steps'][s.name]})"
                                for s in left)
            plan["steps"].update(steps)
        else:
            changes = "the same steps"
            steps = {s.name: plan["steps"][s.name] for s in left}
        plan["step_seconds"].update(per_step)
        for s in left:
            plan["estimates"][s.name] = steps[s.name] * per_step[s.name] + setup[s.name]
        plan["estimates"].update(after)
        remaining = sum(plan["estimates"][s.name] for s in left) + sum(after.values())
        finish = B.finish_time(datetime.now().astimezone(), remaining)
        plan.setdefault("replans", []).append({
            "after": done.name, "ratio": round(ratio, 3), "steps": steps,
            "total": spent + remaining, "finish_by": finish.isoformat(timespec="seconds")})
        state.save()
        log.log(logging.WARNING if ratio > 1 else logging.INFO,
                "%s ran at %s (another program on this machine?): %s; the job now finishes "
                "about %s", done.name, how, changes, _local(finish))
        if self.progress is not None:
            self.progress.replan(self._progress_phases(state, self.scans))

    def _evaluate(self, out: Path) -> None:
        from engine.avatar import load_bundle
        from train.evaluate import evaluate_bundle

        bundle = load_bundle(self.o.bundle, verify=True)
        metrics = evaluate_bundle(bundle, PreparedData(self.heldout), "all", self.o.backend)
        metrics = {"data": str(self.heldout), **metrics}
        tmp = out.with_name(out.name + ".part")
        tmp.write_text(json.dumps(metrics, indent=2))
        os.replace(tmp, out)
        manifest_path = self.o.bundle / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["metrics"] = {**(manifest.get("metrics") or {}), "heldout_metrics": metrics}
        tmp = manifest_path.with_name(manifest_path.name + ".part")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, manifest_path)
        log.info("held out (%d frames): SSIM %.3f, PSNR %.2f dB, pose distance %s",
                 metrics["frames"], metrics["ssim"], metrics["psnr"],
                 "n/a" if metrics["pose_distance"] is None
                 else f"{metrics['pose_distance']:.4f}")

    def _report(self, state: JobState, metrics: dict) -> Path:
        from train.report import write_report

        runs = [self.o.work / r for r in B.runs_in_order(self.specs)]
        seconds = {name: state.seconds(name) for name in self._phase_names(state)
                   if state.done(name)}
        return write_report(self.o.bundle, runs, self.heldout, seconds, metrics)

    # -- the plan -----------------------------------------------------------------------
    def _heldout_frames(self, state: JobState, scans: list[VideoScan]) -> int:
        if self.heldout.is_dir() and (self.heldout / "manifest.json").is_file():
            return int(json.loads((self.heldout / "manifest.json").read_text())["frames"])
        n_train = len(state.data["videos"])
        if state.data["heldout_videos"]:
            return total_frames(scans[n_train:])
        return int(round(PrepareOptions().val_fraction * total_frames(scans[:n_train])))

    def _estimates(self, state: JobState, scans: list[VideoScan]) -> dict[str, float]:
        """Seconds of each phase still to come (training at the plan's or the recipe's
        steps, at the timed seconds per step where known)."""
        pose_s = pose_seconds(scans)
        timing = state.data.get("timing")
        per_step = timing["seconds_per_step"] if timing else None
        g = per_step["global"] if per_step else 0.2
        held = self._heldout_frames(state, scans)
        est = {"check": 2.0 * len(scans),
               "prepare": B.prepare_seconds(total_frames(scans), pose_s),
               "timing": len(self.specs) * (TIMING_SETUP_S + TIMING_STEPS * 2 * g)}
        plan = state.data.get("plan")
        if plan is not None:  # its estimates, kept up to date with the pace seen
            return {**est, **plan["estimates"]}
        for spec in self.specs:
            setup = timing["setup_seconds"][spec.name] if timing else TIMING_SETUP_S
            est[spec.name] = spec.steps * per_step[spec.name] + setup if per_step else 0.0
        est["export"] = B.export_seconds(g)
        est["eval"] = B.evaluate_seconds(held, pose_s, g)
        est["report"] = B.report_seconds(held, pose_s, g)
        return est

    def _progress_phases(self, state: JobState, scans: list[VideoScan]
                         ) -> list[tuple[str, float, int]]:
        est = self._estimates(state, scans)
        plan = state.data.get("plan")
        steps = {s.name: (plan["steps"][s.name] if plan else s.steps) for s in self.specs}
        return [(name, est[name], steps.get(name, 0)) for name in self._phase_names(state)
                if not state.done(name)]

    def _announce(self, state: JobState, scans: list[VideoScan]) -> None:
        n_train = len(state.data["videos"])
        seconds = sum(s.seconds for s in scans[:n_train])
        est = self._estimates(state, scans)
        names = ", ".join(f"{s.name} ({s.preset})" for s in self.specs)
        log.info("avatar %s: %d video(s), %.0f s of footage (%d frames); preset %s: stages "
                 "%s; held out: %s", self.o.bundle.name, n_train, seconds,
                 total_frames(scans[:n_train]), state.data["preset"], names,
                 self._heldout_rule([Path(v) for v in state.data["heldout_videos"]]))
        if "plan" in state.data:
            return
        before = sum(est[p] for p in BEFORE if not state.done(p))
        after = sum(est[p] for p in AFTER)
        first = []
        if not state.done("prepare"):
            first.append(f"preparing the data (about {B.format_duration(est['prepare'])}: "
                         f"{total_frames(scans)} frames at {1000 * pose_seconds(scans):.0f} ms "
                         "of pose each)")
        if not state.done("timing"):
            first.append(f"timing {TIMING_STEPS} steps of each stage (about "
                         f"{B.format_duration(est['timing'])})")
        if first:
            log.info("first: %s; then the plan, with the time it finishes",
                     " and ".join(first))
        budget = state.data.get("budget_s")
        if budget is None:
            log.info("no --budget: the recipe's steps (%s)",
                     ", ".join(f"{s.name} {s.steps}" for s in self.specs))
            return
        ends = B.finish_time(datetime.now().astimezone(), budget - sum(
            state.all_seconds().values()))
        log.info("budget %s: the whole job ends by %s; export, evaluation and report keep "
                 "about %s of it", B.format_duration(budget), _local(ends),
                 B.format_duration(after))
        if budget - sum(state.all_seconds().values()) <= (before + after) * 1.05:
            raise InputError(f"--budget {B.format_duration(budget)} leaves no time to train: "
                             f"preparing, timing, export, evaluation and report alone take "
                             f"about {B.format_duration(before + after)} here")

    def _plan(self, state: JobState, scans: list[VideoScan]) -> dict:
        timing = state.data["timing"]
        per_step = timing["seconds_per_step"]
        setup = timing["setup_seconds"]
        est = self._estimates(state, scans)
        after = sum(est[p] for p in AFTER) + sum(setup.values())
        spent = sum(state.all_seconds().values())
        budget = state.data.get("budget_s")
        if budget is None:
            steps = {s.name: s.steps for s in self.specs}
        else:
            train = B.training_seconds(budget, spent, after)
            if train <= 0:
                raise InputError(f"--budget {B.format_duration(budget)} leaves no time to "
                                 f"train: {B.format_duration(spent)} went to checking, "
                                 f"preparing and timing, and export, evaluation and report "
                                 f"need about {B.format_duration(after)}")
            steps = B.fit_steps(self.specs, per_step, train)
        scale = B.recipe_seconds([B.StageSpec(**{**s.to_dict(), "steps": steps[s.name]})
                                  for s in self.specs], per_step) / \
            B.recipe_seconds(self.specs, per_step)
        stages = {s.name: steps[s.name] * per_step[s.name] + setup[s.name] for s in self.specs}
        remaining = sum(stages.values()) + sum(est[p] for p in AFTER)
        finish = B.finish_time(datetime.now().astimezone(), remaining)
        plan = {"steps": steps, "step_seconds": per_step, "scale": round(scale, 4),
                "estimates": {**stages, **{p: est[p] for p in AFTER},
                              "total": spent + remaining},
                "finish_by": finish.isoformat(timespec="seconds"), "budget_s": budget}
        self._log_plan(plan)
        if budget is not None and scale < B.MIN_SCALE_WARN:
            log.warning("the budget allows %.0f%% of the recipe's training: the avatar will be "
                        "rough (about %s would give the full recipe)", 100 * scale,
                        B.format_duration(spent + B.recipe_seconds(self.specs, per_step)
                                          + after))
        return plan

    def _log_plan(self, plan: dict, resumed: bool = False) -> None:
        parts = [f"{s.name} {plan['steps'][s.name]} steps x {plan['step_seconds'][s.name]:.3f} "
                 f"s = {B.format_duration(plan['estimates'][s.name])}" for s in self.specs]
        post = ", ".join(f"{p} {B.format_duration(plan['estimates'][p])}" for p in AFTER)
        finish = datetime.fromisoformat(plan["finish_by"])
        log.info("plan%s: %s; then %s; the job finishes about %s%s",
                 " (kept from the job's start)" if resumed else "", "; ".join(parts), post,
                 _local(finish) if not resumed else "when these are done",
                 f" (budget {B.format_duration(plan['budget_s'])})" if plan["budget_s"] else "")
