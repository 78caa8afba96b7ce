"""Measure a trained run on prepared frames, as the paper does.

Renders the frames of the split from their label maps in order (each generated frame
conditions the next), and reports SSIM and PSNR of the whole frame and of the face,
a temporal flicker measure, and the pose distance and re-detection rate of BlazePose
run on the generated frames.
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run folder (dancenow train)")
    p.add_argument("--data", required=True, metavar="DATA", help="prepared data folder")
    p.add_argument("--split", default="val", choices=("val", "train", "all"),
                   help="which frames to render")
    p.add_argument("--no-face", action="store_true",
                   help="leave out the face GAN even when the run has one")
    p.add_argument("-o", "--output", metavar="JSON", help="write the metrics here")


def run(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_run

    metrics = evaluate_run(args.run, args.data, args.split, args.output,
                           use_face=not args.no_face, progress=args.progress)
    keys = ("ssim", "psnr", "face_ssim", "flicker", "pose_distance", "redetect_rate")
    print(json.dumps({k: metrics[k] for k in keys}, indent=2))
    return 0
