"""Map a source video's poses onto a target's framing and body size.

Global pose normalization from the paper: the source's ankle positions and body
heights near and far from the camera are mapped onto the target's. Both keypoints
files are read whole (offline normalization).
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE_KP", help="keypoints of the performer (.kp.npz)")
    p.add_argument("--target", required=True, metavar="TARGET_KP",
                   help="keypoints of the target person's video (.kp.npz)")
    p.add_argument("-o", "--output", required=True, metavar="KP_NPZ",
                   help="normalized keypoints to write")
    p.add_argument("--stats", metavar="JSON", help="also write both videos' statistics here")


def run(args: argparse.Namespace) -> int:
    from engine.keypoints import KeypointTrack
    from engine.normalize import OfflineNormalizer, compute_stats

    source = KeypointTrack.load(args.source)
    target = KeypointTrack.load(args.target)
    src_stats, tgt_stats = compute_stats(source.keypoints), compute_stats(target.keypoints)
    normalized = OfflineNormalizer(src_stats, tgt_stats)(source.keypoints)
    KeypointTrack(normalized, source.fps, target.size).save(args.output)
    if args.stats:
        with open(args.stats, "w") as fh:
            json.dump({"source": src_stats.to_dict(), "target": tgt_stats.to_dict()}, fh,
                      indent=2)
    log.info("wrote %s (%d frames, framed as %dx%d)", args.output, len(source), *target.size)
    return 0
