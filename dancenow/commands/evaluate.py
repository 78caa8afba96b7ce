"""Measure a trained run or an avatar bundle on prepared frames, as the paper does.

Renders the frames of the split from their label maps in order (each generated frame
conditions the next), and reports SSIM and PSNR of the whole frame and of the face,
a temporal flicker measure, and the pose distance and re-detection rate of BlazePose
run on the generated frames. An avatar bundle runs on --backend (its ONNX files, or
its torch programs with `torch`), so the shipped artefact itself is what gets measured.
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run folder (dancenow train) or avatar bundle "
                                              "(dancenow export)")
    p.add_argument("--data", required=True, metavar="DATA", help="prepared data folder")
    p.add_argument("--split", default="val", choices=("val", "train", "all"),
                   help="which frames to render")
    p.add_argument("--no-face", action="store_true",
                   help="leave out the face GAN even when the run has one")
    p.add_argument("--backend", metavar="BACKEND",
                   help="runner for an avatar bundle: ort-cpu (default), ov-cpu, auto, "
                        "ort-cuda, ort-trt, trt or torch; a training run always evaluates "
                        "in torch")
    p.add_argument("-o", "--output", metavar="JSON", help="write the metrics here")


def run(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_run

    metrics = evaluate_run(args.run, args.data, args.split, args.output,
                           use_face=not args.no_face, progress=args.progress,
                           backend=args.backend)
    keys = ("ssim", "psnr", "face_ssim", "flicker", "pose_distance", "redetect_rate")
    print(json.dumps({k: metrics[k] for k in keys}, indent=2))
    return 0
