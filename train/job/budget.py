"""Training recipes per preset and the budget arithmetic (pure functions, no I/O).

The recipe is the one behind the committed demo avatars (`make avatar`): the global
stage 13500 steps, the temporal stage started from it 1500, the face stage 3000; for
`cpu-live`, the temporal stage of `cpu-live` thinned from the `cpu-rt` run and
fine-tuned 2500 steps, then its face stage. Other presets keep those proportions (the
global stage their preset's length, the temporal stage a ninth of it, the face stage
two ninths).

Fitting a budget: the time left for training is the budget less what the rest of the
job takes (preparing, timing, export, evaluation, report) and a safety margin.

* Under the recipe's time, every stage is shortened by the same factor: the recipe's
  step proportions are kept, and with them its time shares on this machine (about 75%
  global, 17% temporal, 7% face for `cpu-rt`).
* Over it, the fine-tuning stages (temporal, the thinned `live-temporal`, face) keep the
  recipe's length and the global stage gets the rest, up to `MAX_GROWTH` times its
  recipe length: the recipe grew only the global stage (4500, 9000, then 13500 steps:
  three times its first length) and the ablation (benchmarks/results/quality.md) shows
  the fine-tunes reaching their gains within their lengths (temporal: pose distance
  0.0104 to 0.0081 in 1500 steps; face: face SSIM 0.7125 to 0.7309 in 3000 steps) while
  the global stage carries the image quality (SSIM 0.900 of the final 0.904). Nothing
  measured says more than three times helps, so a larger budget ends the job early.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from engine.errors import InputError
from train.presets import get_preset

FINAL_RUN = "run"  # the run folder (under the work folder) that is exported
# The recipe of the committed demo avatars (Makefile, README: "Training the demo avatar").
RECIPE_STEPS: dict[str, int] = {"global": 13500, "temporal": 1500, "live-temporal": 2500,
                                 "face": 3000}
# stages that start from a trained generator
FINE_TUNES = ("temporal", "live-temporal", "face")
# the thinned stage also imitates the cpu-rt generator it starts from, with this weight
# (the real frame's L1 has 50: TrainConfig.lambda_l1); on held-out motions 0, 50 and 200
# gave the thinned generator SSIM 0.890, 0.895 and 0.897 at 1524 steps (README)
LIVE_DISTILL = 200.0
MAX_GROWTH = 3.0  # a budget grows the global stage to at most this times its recipe length
SAFETY = 0.02  # share of the time kept back for estimates that come out short (each
# stage's deadline already shortens a stage that runs slower than timed)
MIN_SCALE_WARN = 0.25  # below this share of the recipe the avatar will be rough

# Estimates of the job's other phases on a CPU, from this machine's measurements:
PREPARE_POSE_FACTOR = 1.6  # prepare costs the pose per frame times this (decoding twice,
# cropping, label maps)
EVAL_EXTRA_S = 0.012  # per held-out frame besides pose and generator: SSIM and the face
# ONNX Runtime renders a frame in about this share of a training step (cpu-rt: 13 ms
# against 0.21 s a step)
INFERENCE_SHARE = 1 / 16
# The export: about 5 s for two small models, plus about 20 training steps' worth
# (tracing, simplifying and checking the graphs, the parity frames); cpu-rt and cpu-live
# took 9-20 s here with the machine busy.
EXPORT_BASE_S = 5.0
EXPORT_STEPS_FACTOR = 20.0
REPORT_S = 3.0  # the report's pages and poster, besides rendering and timing the bundle
REPORT_SPEED_CALLS = 50  # the report times this many calls of each model


@dataclass(frozen=True)
class StageSpec:
    """One training stage of a job."""

    name: str  # the job's name for it: global | temporal | live-temporal | face
    preset: str  # the preset it trains
    stage: str  # the trainer's stage: global | temporal | face
    run: str  # its run folder, relative to the work folder
    steps: int  # its length
    init_from: str | None = None  # run folder it starts from (thinned), relative
    distill: float = 0.0  # weight of the L1 loss to init_from's own output (TrainConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> StageSpec:
        return cls(**d)


def recipe(preset: str) -> list[StageSpec]:
    """The stages of an avatar of `preset`, in order, at their default lengths."""
    p = get_preset(preset)
    if preset == "cpu-live":
        rt = "run-cpu-rt"
        return [StageSpec("global", "cpu-rt", "global", rt, RECIPE_STEPS["global"]),
                StageSpec("temporal", "cpu-rt", "temporal", rt, RECIPE_STEPS["temporal"]),
                StageSpec("live-temporal", preset, "temporal", FINAL_RUN,
                          RECIPE_STEPS["live-temporal"], init_from=rt,
                          distill=LIVE_DISTILL),
                StageSpec("face", preset, "face", FINAL_RUN, RECIPE_STEPS["face"])]
    if preset == "cpu-rt":
        steps = {k: RECIPE_STEPS[k] for k in ("global", "temporal", "face")}
    else:
        steps = {"global": p.iters, "temporal": max(1, round(p.iters / 9)),
                 "face": max(1, round(2 * p.iters / 9))}
    return [StageSpec(name, preset, name, FINAL_RUN, n) for name, n in steps.items()]


def runs_in_order(specs: list[StageSpec]) -> list[str]:
    """The run folders of `specs`, each once, in stage order."""
    return list(dict.fromkeys(s.run for s in specs))


_BUDGET = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_budget(text: str) -> float:
    """Seconds in a budget written as `45m`, `3h`, `1h30m`, `90s` or `2h15m30s`."""
    m = _BUDGET.match(text.strip().lower().replace(" ", ""))
    if not text.strip() or m is None or not any(m.groups()):
        raise InputError(f"--budget {text!r}: write it with units, like 45m, 3h, 1h30m or "
                         "90s")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise InputError(f"--budget {text!r} must be longer than zero")
    return total


def format_duration(seconds: float) -> str:
    """`42s`, `3m12s`, `1h05m`."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def recipe_seconds(specs: list[StageSpec], step_seconds: dict[str, float]) -> float:
    """Training time of `specs` at their lengths, at the timed seconds per step."""
    return sum(s.steps * step_seconds[s.name] for s in specs)


def fit_steps(specs: list[StageSpec], step_seconds: dict[str, float],
              train_seconds: float) -> dict[str, int]:
    """Steps per stage that fit `train_seconds` (see the module docstring).

    `step_seconds` holds the timed seconds per step of each stage. Every stage gets at
    least one step; a budget that leaves no training time is an `InputError`."""
    if train_seconds <= 0:
        raise InputError("the budget leaves no time to train")
    full = recipe_seconds(specs, step_seconds)
    if train_seconds <= full:
        scale = train_seconds / full
        return {s.name: max(1, math.floor(s.steps * scale)) for s in specs}
    steps = {s.name: s.steps for s in specs}
    growing = [s for s in specs if s.name not in FINE_TUNES]
    if not growing:  # nothing to grow: keep the recipe
        return steps
    fixed = sum(s.steps * step_seconds[s.name] for s in specs if s.name in FINE_TUNES)
    per_growing = (train_seconds - fixed) / len(growing)
    for s in growing:
        steps[s.name] = min(math.floor(MAX_GROWTH * s.steps),
                            max(s.steps, math.floor(per_growing / step_seconds[s.name])))
    return steps


def longest(spec: StageSpec, planned: int) -> int:
    """The most steps a stage planned at `planned` may run when its deadline leaves time
    (a machine faster than timed): what a larger budget would give it, i.e. the global
    stage up to `MAX_GROWTH` times its recipe length and a fine-tune its recipe length,
    and never less than planned."""
    ceiling = spec.steps if spec.name in FINE_TUNES else math.floor(MAX_GROWTH * spec.steps)
    return max(planned, ceiling)


def training_seconds(budget: float, spent: float, after: float) -> float:
    """Training time in a budget of `budget` s once `spent` s are gone and `after` s are
    kept for the phases after training, less the safety margin."""
    return (budget - spent - after) * (1.0 - SAFETY)


def prepare_seconds(frames: int, pose_seconds: float) -> float:
    """Estimated time to prepare `frames` source frames at `pose_seconds` per pose."""
    return frames * pose_seconds * PREPARE_POSE_FACTOR


def export_seconds(global_step_seconds: float) -> float:
    """Estimated time of the export with its parity check."""
    return EXPORT_BASE_S + EXPORT_STEPS_FACTOR * global_step_seconds


def evaluate_seconds(frames: int, pose_seconds: float, global_step_seconds: float) -> float:
    """Estimated time to evaluate `frames` held-out frames: BlazePose on each generated
    frame, the generator and the image metrics."""
    return frames * (pose_seconds + global_step_seconds * INFERENCE_SHARE + EVAL_EXTRA_S)


def report_seconds(frames: int, pose_seconds: float, global_step_seconds: float) -> float:
    """Estimated time of the report: it renders the held-out frames again (with their
    SSIM) and times the pose and the generator."""
    inference = global_step_seconds * INFERENCE_SHARE
    return REPORT_S + frames * (inference + EVAL_EXTRA_S) \
        + REPORT_SPEED_CALLS * (inference + pose_seconds)


def finish_time(start: datetime, seconds: float) -> datetime:
    """When a job started at `start` that needs `seconds` more ends."""
    return start + timedelta(seconds=seconds)


def checkpoint_every(step_seconds: float, seconds: float, steps: int) -> int:
    """Steps between checkpoints so that an interruption loses at most about `seconds`."""
    return max(1, min(steps, int(seconds / max(step_seconds, 1e-6))))


def log_every(step_seconds: float, steps: int) -> int:
    """Steps between lines of the training log: about one a second, at most every 25
    steps (the loss curves' resolution)."""
    return max(1, min(25, steps, int(round(1.0 / max(step_seconds, 1e-6)))))


def sample_every(steps: int) -> int:
    """Steps between sample grids: about ten a stage, at least 50 steps apart, and one at
    the end of a short stage."""
    return min(steps, max(50, steps // 10))
