"""Prepare video(s) of the target person for training.

Decodes each video, estimates and smooths the poses (BlazePose), centre-crops to a
square and resizes, and writes frames, keypoints, label maps, face boxes, the target's
normalization statistics and a manifest into DATA. The last 10% of each video is held
out for validation. Running it again on the same inputs does nothing.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video(s) of the target person")
    p.add_argument("-o", "--output", required=True, metavar="DATA", help="data folder to write")
    p.add_argument("--size", type=int, default=256,
                   help="frame and label-map size in pixels: the preset's resolution (256 for "
                        "cpu-rt and balanced, 512 for hd, 64 for tiny)")
    p.add_argument("--max-frames", type=int, metavar="N", help="use at most N frames per video")
    p.add_argument("--min-person-frames", type=int, default=30, metavar="N",
                   help="stop with an error when fewer frames than this show a person")


def run(args: argparse.Namespace) -> int:
    from train.data import PrepareOptions, prepare

    options = PrepareOptions(size=args.size, max_frames=args.max_frames,
                             min_person_frames=args.min_person_frames)
    manifest = prepare(args.videos, args.output, options, progress=args.progress)
    counts = manifest["counts"]
    log.info("%s: %d frames, %d with a person (%d train, %d validation), %d face boxes",
             args.output, manifest["frames"], counts["detected"], counts["train"],
             counts["val"], counts["faces"])
    return 0
