"""Estimate the pose in every frame of a video.

Writes a keypoints file (`*.kp.npz`: float32 [T, 33, 3] of x px, y px, visibility in
BlazePose's landmark order, plus fps and frame size). Frames without a person are
rows of NaN with visibility 0; a video with nobody in it gives a warning.
"""

from __future__ import annotations

import argparse
import logging

from engine.keypoints import keypoints_path_for

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.pose import estimator_names

    p.add_argument("video", metavar="VIDEO", help="input video file")
    p.add_argument("-o", "--output", metavar="KP_NPZ",
                   help="keypoints file to write (default: VIDEO's stem + .pose.kp.npz beside it, "
                        "which keeps a synthetic clip's ground-truth .kp.npz intact)")
    p.add_argument("--overlay", metavar="MP4", help="also write the video with the skeleton drawn")
    p.add_argument("--backend", default="mediapipe", choices=estimator_names(),
                   help="pose estimator: mediapipe's own, or BlazePose's models converted to "
                        "ONNX on a Runner backend (converted on first use)")
    p.add_argument("--smooth", type=int, default=1, metavar="N",
                   help="median-smooth over N frames (odd; 1 = off), the paper's offline smoothing")


def run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from engine.filters import median_smooth
    from engine.keypoints import KeypointTrack
    from engine.pose.video import estimate_video

    if args.smooth < 1 or args.smooth % 2 == 0:
        raise InputError(f"--smooth must be an odd number >= 1, got {args.smooth}")
    out = args.output or keypoints_path_for(args.video, tag="pose")
    from export.blazepose import ensure_pose_models

    ensure_pose_models(args.backend)
    track = estimate_video(args.video, backend=args.backend, overlay=args.overlay,
                           progress=args.progress)
    if args.smooth > 1:
        track = KeypointTrack(median_smooth(track.keypoints, args.smooth), track.fps, track.size)
    track.save(out)
    log.info("wrote %s", out)
    return 0
