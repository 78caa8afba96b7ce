"""Seconds per training step of each stage of a job, measured on this machine.

Each stage trains `TIMING_STEPS` steps in a scratch folder, in the job's order (so the
temporal stage starts from the timed global one, the face stage sits on a temporal
generator, the thinned `live-temporal` stage starts from the timed `cpu-rt` run: each step costs
what it will cost in the job). The first `WARMUP` steps are left out; the rest are
timed from the training log, whose every line carries the steps per second so far;
their mean, less any step over `BLIP` times the median, is the stage's seconds per step.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from train.job.budget import StageSpec
from train.presets import get_preset
from train.trainer import TrainConfig, Trainer

log = logging.getLogger(__name__)

TIMING_STEPS = 20  # a few seconds of each stage: the pace of one moment would mislead
WARMUP = 3
BLIP = 3.0  # a step this many times the median is another program's moment, not the stage's


def seconds_per_step(log_lines: list[dict], warmup: int = WARMUP) -> float:
    """The mean time of the steps after the first `warmup`, from a training log of one
    run started at step 0 with a line every step (`steps_per_s` is cumulative). Steps
    over `BLIP` times the median are left out, so that a moment of another program's
    work on a shared machine does not decide the plan; the rest count in full, the
    stage's own slower steps included."""
    elapsed = {int(r["step"]): int(r["step"]) / float(r["steps_per_s"]) for r in log_lines
               if r.get("steps_per_s")}
    if not elapsed:
        raise ValueError("the training log has no timed steps")
    steps = sorted(elapsed)
    deltas = [elapsed[b] - elapsed[a] for a, b in zip(steps, steps[1:], strict=False)
              if b == a + 1 and a >= warmup]
    if deltas:
        median = float(np.median(deltas))
        return float(np.mean([d for d in deltas if d <= BLIP * median]))
    return elapsed[steps[-1]] / steps[-1]


def time_stages(data: Path, folder: Path, specs: list[StageSpec], precision: str = "auto",
                steps: int = TIMING_STEPS,
                ) -> tuple[dict[str, float], dict[str, float], str | None]:
    """(seconds per step, seconds of set-up) per stage in `precision` (the training's),
    measured in `folder` (replaced), and the precision the steps ran in (`fp32` or
    `bf16`, what `precision` means on this machine; None without stages)."""
    shutil.rmtree(folder, ignore_errors=True)
    per_step, setup = {}, {}
    ran_in: str | None = None
    for spec in specs:
        preset = get_preset(spec.preset)
        config = TrainConfig(preset=spec.preset, stage=spec.stage, iters=steps,
                             batch=preset.batch, log_every=1, checkpoint_every=steps,
                             sample_every=10 * steps,
                             init_from=str(folder / spec.init_from) if spec.init_from else None,
                             lambda_distill=spec.distill, precision=precision)
        started = time.perf_counter()
        trainer = Trainer(data, folder / spec.run, config, progress=False)
        ready = time.perf_counter()
        trainer.run()
        ran_in = trainer.precision
        lines = [json.loads(line) for line in
                 (folder / spec.run / f"train_log-{spec.stage}.jsonl").read_text().splitlines()
                 if line.strip()]
        per_step[spec.name] = seconds_per_step(lines)
        setup[spec.name] = ready - started
        log.info("timed %s: %.3f s per step (%s, batch %d), %.1f s to set up", spec.name,
                 per_step[spec.name], spec.preset, preset.batch, setup[spec.name])
    return per_step, setup, ran_in


def other_precision_warning(timed: str | None, now: str) -> str | None:
    """What to tell a resumed job whose steps were timed in `timed` and now train in
    `now` (None when they agree or the timing did not say)."""
    if timed is None or timed == now:
        return None
    return (f"the job's steps were timed in {timed} and now train in {now}: its plan stands, "
            "and each stage's deadline and the pace check after it fit the rest to the "
            "budget")
