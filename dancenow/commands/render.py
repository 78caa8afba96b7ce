"""Render a source video as an avatar dancing it (the paper's offline transfer).

Estimates the pose in every frame of SOURCE, smooths it with the paper's centred median,
normalizes it to the avatar's framing and body size with the whole video's statistics,
and renders each frame with the avatar bundle on --backend. Keeps the source's frame
rate and copies its audio track. `--layout side-by-side` writes source | pose | avatar.
A source with no person, or an avatar that does not load, stops with a clear error and
writes nothing.
"""

from __future__ import annotations

import argparse
import json
import logging

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from engine.pipeline.offline import LAYOUTS, RenderOptions
    from engine.pose import estimator_names
    from engine.predict.setting import predict_argument

    d = RenderOptions()
    p.add_argument("source", metavar="SOURCE", help="video of the performer")
    p.add_argument("--avatar", required=True, metavar="AVATAR",
                   help="avatar bundle folder (dancenow export; avatars/demo is built in)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_MP4", help="video to write")
    p.add_argument("--backend", default=d.backend, help="runner of the avatar's models "
                   "(ort-cpu, ort-cuda, ort-trt, trt, torch)")
    p.add_argument("--pose-backend", default=d.pose_backend, choices=estimator_names(),
                   help="pose estimator for the source")
    p.add_argument("--layout", default=d.layout, choices=LAYOUTS,
                   help="avatar only, or source | pose | avatar")
    p.add_argument("--smooth", type=int, default=d.smooth, metavar="N",
                   help="median window over the source's poses (odd; 1 = off)")
    p.add_argument("--predict", type=predict_argument, default=d.predict, metavar="off|MS",
                   help="predict each pose MS milliseconds ahead as the live server does "
                        "(to preview it); a file has no delay to hide, so the default is "
                        "off, and auto means off here")


def run(args: argparse.Namespace) -> int:
    from engine.avatar import load_bundle
    from engine.errors import InputError
    from engine.pipeline.offline import RenderOptions, render_video

    if not args.output.lower().endswith(".mp4"):
        raise InputError(f"the output must be an .mp4 file, got {args.output}")
    bundle = load_bundle(args.avatar, verify=True)
    from export.blazepose import ensure_pose_models

    ensure_pose_models(args.pose_backend)
    summary = render_video(args.source, bundle, args.output,
                           RenderOptions(backend=args.backend, pose_backend=args.pose_backend,
                                         layout=args.layout, smooth=args.smooth,
                                         predict=args.predict),
                           progress=args.progress)
    log.info("rendered %d frames (%d with a person) to %s", summary["frames"],
             summary["person_frames"], summary["output"])
    print(json.dumps(summary, indent=2))
    return 0
