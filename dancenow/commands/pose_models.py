"""Convert the BlazePose models that mediapipe ships into ONNX for the Runner backends.

Writes pose_detection.onnx and pose_landmark_full.onnx (and a manifest naming their
sources) to the folder that `dancenow pose --backend ort-cpu` and the live engine read:
$DANCENOW_POSE_MODELS, else ~/.cache/dancenow/pose. `dancenow pose` with a Runner
backend converts them on first use; this verb does it ahead of time, or elsewhere.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", metavar="DIR",
                   help="folder to write (default: $DANCENOW_POSE_MODELS or "
                        "~/.cache/dancenow/pose)")
    p.add_argument("--force", action="store_true", help="convert again even when up to date")


def run(args: argparse.Namespace) -> int:
    from export.blazepose import convert_pose_models

    for name, path in convert_pose_models(args.output, force=args.force).items():
        log.info("%s: %s", name, path)
    return 0
