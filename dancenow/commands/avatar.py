"""Make an avatar from videos of the target person in one command.

`dancenow avatar create VIDEO... -o avatars/NAME` checks the videos, prepares the data
(the person-centred crop, the framing and coverage reports), times a few training
steps of each stage on this machine, trains the stages in order, exports the bundle
(ONNX, parity-checked against torch), evaluates it on held-out frames and writes its
report (report.html, report.md and a poster) into the bundle folder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

CREATE_HELP = """\
Stages per preset: `cpu-rt` global 13500 steps, temporal 1500 (from the global
generator), face 3000. `cpu-live` (the default; the generator a browser on the same 2
cores can keep up with): cpu-rt global and temporal, then cpu-live's temporal stage
thinned from that run and fine-tuned 2500 steps, then its face stage; about 85 min of
training on 2 CPU cores. `balanced` and `hd` (GPUs) and `tiny` (smoke tests) keep the
same proportions of their preset's length.

--budget fits the whole job, training and the rest, into a time: 45m, 3h, 1h30m, 90s.
The job first times a few steps of each stage here, estimates preparing, export,
evaluation and report, then shortens every stage by the same factor (or, with time to
spare, lengthens the global stage only, to at most three times its length, and ends
early) and says what it will do and when it will finish. When a stage runs slower or
faster than timed (another program on the machine), the stages not started yet are
fitted again to the time left. Without --budget it trains the recipe's steps.

Held out: the last 10% of each video (training never sees them), or the whole videos
given with --heldout. The bundle is evaluated on them.

Interruptions: checkpoints are written about every --checkpoint-seconds; Ctrl-C, a
crash or a killed process loses at most the steps since the last one. Run the same
command again, or `dancenow avatar create --resume -o AVATAR`, to continue: finished
phases are skipped and the plan made at the start is kept. A second job in the same
work folder is refused while the first runs.

The bundle folder gets the bundle and the report only; the data, runs and the job file
(job.json: plan, step counts, phases done and their durations) go to --work.

Progress: on a terminal one line for the whole job (phase, step, losses, elapsed and
remaining time of the phase and of the job); otherwise log lines. With -q, log lines
of the job only.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from export.onnx_steps import PRECISIONS
    from train.precision import PRECISIONS as TRAIN_PRECISIONS
    from train.presets import PRESETS

    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True,
                           help="what to do: create (the only action)")
    c = sub.add_parser("create", help="videos of the target person -> a trained, exported, "
                                      "evaluated avatar bundle with its report",
                       description=__doc__ + "\n" + CREATE_HELP,
                       formatter_class=p.formatter_class)
    c.add_argument("videos", nargs="*", metavar="VIDEO",
                   help="video(s) of the target person, alone, whole body in view, static "
                        "camera (optional with --resume)")
    c.add_argument("-o", "--output", required=True, metavar="AVATAR",
                   help="the avatar bundle folder to write, e.g. avatars/NAME")
    c.add_argument("--preset", default="cpu-live", choices=list(PRESETS),
                   help="model size and recipe (see above)")
    c.add_argument("--budget", metavar="DURATION",
                   help="time for the whole job, e.g. 45m, 3h, 1h30m (default: the recipe's "
                        "steps, however long they take)")
    c.add_argument("--resume", action="store_true",
                   help="continue the job in the work folder (the videos may be left out); "
                        "running the same command again does the same")
    c.add_argument("--work", metavar="DIR",
                   help="folder for the data, the runs and job.json (default: "
                        "out/avatars/NAME for -o .../NAME)")
    c.add_argument("--heldout", nargs="+", metavar="VIDEO",
                   help="whole videos to evaluate on instead of the last 10%% of each video")
    c.add_argument("--checkpoint-seconds", type=float, default=60.0, metavar="S",
                   help="seconds of training between checkpoints: the most an interruption "
                        "loses")
    c.add_argument("--precision", default="fp16", choices=PRECISIONS,
                   help="arithmetic inside the exported graphs")
    c.add_argument("--train-precision", default="auto", choices=TRAIN_PRECISIONS,
                   help="arithmetic of the training steps: bf16 autocast or fp32; auto "
                        "(default) is bf16 where the hardware multiplies it natively (a CPU "
                        "with AMX, a GPU of compute capability 8.0+), fp32 elsewhere")
    c.add_argument("--backend", default="ort-cpu",
                   help="runner the bundle is evaluated on (ort-cpu, ort-cuda, ort-trt, trt, "
                        "torch)")


def _export(run: Path, bundle: Path, precision: str) -> None:
    from export.bundle import ExportOptions, export_avatar

    export_avatar(run, bundle, ExportOptions(precision=precision, torch_programs=False,
                                             force=True, name=bundle.name))


def run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from train.job.budget import parse_budget
    from train.job.runner import AvatarJob, JobOptions

    if args.quiet:  # the job's own lines stay: -q means log lines, not the live display
        logging.getLogger("train.job").setLevel(logging.INFO)
    if not args.videos and not args.resume:
        raise InputError("give the target's video(s), or --resume to continue a job")
    if args.checkpoint_seconds <= 0:
        raise InputError("--checkpoint-seconds must be positive")
    output = Path(args.output)
    work = Path(args.work) if args.work else Path("out/avatars") / output.name
    options = JobOptions(
        videos=tuple(Path(v) for v in args.videos), bundle=output, work=work,
        preset=args.preset, budget=parse_budget(args.budget) if args.budget else None,
        heldout=tuple(Path(v) for v in args.heldout or ()),
        checkpoint_seconds=args.checkpoint_seconds, precision=args.precision,
        train_precision=args.train_precision,
        backend=args.backend, resume=args.resume, bar=args.progress)
    report = AvatarJob(options, _export).run()
    log.info("report: %s", report)
    return 0
