"""Render keypoints as the generator's input: a stick figure on black, one colour per bone.

The keypoints are scaled to fit the label map's height and centred horizontally.
Writes an MP4 for viewing; the generator itself takes the float16 tensor directly.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("keypoints", metavar="KP_NPZ", help="keypoints file (.kp.npz)")
    p.add_argument("-o", "--output", required=True, metavar="MP4", help="label-map video")
    p.add_argument("--size", type=int, default=256, help="label map width and height, pixels")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from engine.errors import InputError
    from engine.keypoints import KeypointTrack
    from engine.skeleton import fit_square, render_label_map, tensor_to_image
    from engine.video import Mp4Writer

    if args.size < 16 or args.size % 2:
        raise InputError(f"--size must be an even number >= 16, got {args.size}")
    track = KeypointTrack.load(args.keypoints)
    scale, offset = fit_square(track.size, args.size)
    out = None
    with Mp4Writer(args.output, args.size, args.size, track.fps) as writer:
        for pose in tqdm(track.keypoints, desc="labelmap", unit="frame",
                         disable=not args.progress, leave=False):
            out = render_label_map(pose, args.size, args.size, scale, offset, out=out)
            writer.write(tensor_to_image(out))
    log.info("wrote %s (%d frames)", args.output, len(track))
    return 0
