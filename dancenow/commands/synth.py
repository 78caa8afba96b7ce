"""Render the synthetic actor dancing and write its ground-truth keypoints.

Writes OUT (.mp4, or .y4m for a browser's fake webcam) and OUT's stem + `.kp.npz`
beside it. With --keypoints, the actor performs the given poses instead of a built-in
motion (retargeted to the actor's bone lengths, keeping the root trajectory); frame
size and rate then come from the keypoints file.
"""

from __future__ import annotations

import argparse
import logging

from engine.keypoints import KeypointTrack, keypoints_path_for

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from synth.appearance import ACTORS
    from synth.motions import MOTIONS

    p.add_argument("--actor", default="performer", choices=list(ACTORS),
                   help="who dances")
    motions = "; ".join(f"{k}: {v[1]}" for k, v in MOTIONS.items())
    p.add_argument("--motion", default="dance", choices=list(MOTIONS), metavar="NAME",
                   help=f"built-in motion ({motions})")
    p.add_argument("--keypoints", metavar="KP_NPZ",
                   help="perform these poses instead of a built-in motion")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length")
    p.add_argument("--size", type=int, default=512, help="frame width and height, pixels")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate")
    p.add_argument("--seed", type=int, default=0, help="varies tempo, amplitude and phase")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output video (.mp4 or .y4m)")


def run(args: argparse.Namespace) -> int:
    from synth.clip import ClipSpec, synth_clip, synth_from_keypoints

    if args.keypoints:
        track = synth_from_keypoints(args.actor, KeypointTrack.load(args.keypoints),
                                     args.output, progress=args.progress)
    else:
        spec = ClipSpec(actor=args.actor, motion=args.motion, seconds=args.seconds,
                        size=args.size, fps=args.fps, seed=args.seed)
        track = synth_clip(spec, args.output, progress=args.progress)
    log.info("%s: %d frames at %g fps, %dx%d; keypoints in %s", args.output, len(track),
             track.fps, *track.size, keypoints_path_for(args.output))
    return 0
