"""Train the generator (and the face GAN) on a prepared data folder.

Stages: `global` (single-frame generator), `temporal` (the generator also sees its
previous output; the default; it starts from the run's global generator when the run
has one), `face` (a face residual generator on top of the run's trained generator).
`--init-from OTHER_RUN` starts a global or temporal stage from another run's generator
instead, thinned to the preset's residual blocks (cpu-live from cpu-rt); `--distill W`
also makes it imitate that generator's output (an L1 loss of weight W).
Checkpoints are written atomically every --checkpoint-every steps;
--resume continues exactly where an interrupted run stopped. Several GPUs: launch with
`torchrun --nproc_per_node N -m dancenow train ...`.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from train.job.budget import LIVE_DISTILL
    from train.precision import PRECISIONS
    from train.presets import PRESETS
    from train.trainer import STAGES, TrainConfig

    d = TrainConfig()
    p.add_argument("data", metavar="DATA", help="prepared data folder (dancenow prepare)")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="run folder")
    p.add_argument("--preset", default=d.preset, choices=list(PRESETS), help="model sizes")
    p.add_argument("--stage", default=d.stage, choices=STAGES, help="what to train")
    p.add_argument("--iters", type=int, metavar="N",
                   help="training steps (default: the preset's; a third of it for the face)")
    p.add_argument("--batch", type=int, metavar="B", help="samples per step (default: preset's)")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--face-l1", type=float, default=d.lambda_face_l1, metavar="W",
                   help="weight of the extra L1 loss on the face box in the global and "
                        "temporal stages (0 turns it off)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed")
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every, metavar="N",
                   help="steps between checkpoints")
    p.add_argument("--sample-every", type=int, default=d.sample_every, metavar="N",
                   help="steps between sample grids (label | generated | real)")
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="train a new temporal stage from scratch even when RUN holds a "
                        "finished global stage (by default it starts from that generator)")
    p.add_argument("--init-from", metavar="OTHER_RUN",
                   help="start a new global or temporal stage from OTHER_RUN's trained "
                        "generator (its temporal stage, else its global one) instead of from "
                        "scratch; with a preset of fewer residual blocks (cpu-live from "
                        "cpu-rt) evenly spaced blocks are kept and fine-tuned")
    p.add_argument("--distill", type=float, default=d.lambda_distill, metavar="W",
                   help="with --init-from: weight of an L1 loss to OTHER_RUN's generator's "
                        "own output on the same input (distillation), beside the loss to the "
                        f"real frame (the avatar job uses {LIVE_DISTILL:g} for cpu-live; "
                        "default 0: off)")
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="arithmetic of a step: bf16 autocast (weights stay float32) or fp32; "
                        "auto (default) is bf16 where the hardware multiplies it natively "
                        "(a CPU with AMX, a GPU of compute capability 8.0+) and fp32 elsewhere")
    p.add_argument("--resume", action="store_true",
                   help="continue the stage's checkpoint in RUN exactly; a finished stage "
                        "given a larger --iters is extended (its schedule restarts); one "
                        "already at or past --iters is left as it is")


def run(args: argparse.Namespace) -> int:
    from train.presets import get_preset
    from train.trainer import TrainConfig, Trainer

    preset = get_preset(args.preset)
    iters = args.iters
    if iters is None:
        iters = preset.iters // 3 if args.stage == "face" else preset.iters
    config = TrainConfig(preset=args.preset, stage=args.stage, iters=iters,
                         batch=preset.batch if args.batch is None else args.batch,
                         lr=args.lr, seed=args.seed, lambda_face_l1=args.face_l1,
                         checkpoint_every=args.checkpoint_every,
                         sample_every=args.sample_every, warm_start=args.warm_start,
                         init_from=args.init_from, lambda_distill=args.distill,
                         precision=args.precision)
    path = Trainer(args.data, args.output, config, resume=args.resume,
                   progress=args.progress).run()
    log.info("trained %s: %s", args.stage, path)
    return 0
