"""The built-in demonstration, with nothing to download and no GPU.

Makes a synthetic performer clip, then runs it through the live pipeline in real-time
mode (frames offered at the clip's frame rate; frames the pipeline is too busy for are
dropped, as with a webcam): pose -> one-euro filter + online normalization -> label map
-> the avatar's generator with temporal feedback -> face residual. Uses the avatar
bundle committed under avatars/demo on `--backend auto` (ov-cpu where OpenVINO is
installed, else ort-cpu). Writes OUT/demo.mp4 (performer | pose |
avatar), OUT/demo.json, and prints a per-stage latency table and the achieved frame
rate.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from dancenow.commands.backends import add_backend_arguments
    from engine.avatar import DEMO_AVATAR
    from synth.motions import MOTIONS

    p.add_argument("-o", "--output", default="demo_out", metavar="DIR",
                   help="folder for demo.mp4, the clip and the results")
    p.add_argument("--avatar", default=str(DEMO_AVATAR), metavar="AVATAR",
                   help="avatar bundle to drive")
    add_backend_arguments(p, "the avatar's models", "pose estimator: ONNX BlazePose on a "
                          "Runner (auto: as for --backend), or mediapipe")
    p.add_argument("--motion", default="dance", choices=list(MOTIONS), help="performer's motion")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length")
    p.add_argument("--size", type=int, default=512, help="camera frame size, pixels")
    p.add_argument("--seed", type=int, default=0, help="performer's tempo and phase")


def run(args: argparse.Namespace) -> int:
    import asyncio

    import cv2
    import numpy as np

    from engine.avatar import load_bundle
    from engine.errors import InputError
    from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
    from engine.pipeline.sources import VideoFileSource
    from engine.skeleton import render_label_image
    from engine.video import Mp4Writer
    from synth.clip import ClipSpec, synth_clip

    if args.seconds <= 0:
        raise InputError("--seconds must be positive")
    bundle = load_bundle(args.avatar, verify=True)
    from dancenow.commands.backends import ready_backends

    ready_backends(args)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = ClipSpec(actor="performer", motion=args.motion, seconds=args.seconds, size=args.size,
                    seed=args.seed)
    clip = out_dir / "performer.mp4"
    synth_clip(spec, clip, progress=args.progress)
    size = bundle.resolution
    config = PipelineConfig(backend=args.backend, pose_backend=args.pose_backend,
                            pose_threads=1)

    async def main(pipe: LivePipeline, writer: Mp4Writer) -> dict:
        loop = asyncio.get_running_loop()

        def compose(frame: LiveFrame) -> None:
            camera = cv2.resize(frame.image, (size, size), interpolation=cv2.INTER_AREA)
            figure = render_label_image(frame.normalized, size, size)
            writer.write(np.concatenate([camera, figure, frame.output], axis=1))

        async def sink(frame: LiveFrame) -> None:
            await loop.run_in_executor(None, compose, frame)

        return await pipe.run(VideoFileSource(clip, realtime=True), sink)

    with LivePipeline(bundle, config) as pipe, \
            Mp4Writer(out_dir / "demo.mp4", 3 * size, size, spec.fps) as writer:
        stats = asyncio.run(main(pipe, writer))
    results = {"avatar": bundle.name, "backend": args.backend, "pose_backend": args.pose_backend,
               "source_fps": spec.fps, **stats}
    (out_dir / "demo.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| stage | p50 ms | p95 ms |\n|---|---:|---:|")
    for name, s in stats["stages"].items():
        if s:
            print(f"| {name} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} |")
    lat = stats["latency"] or {"p50_ms": float("nan"), "p95_ms": float("nan")}
    print(f"| capture to output | {lat['p50_ms']:.1f} | {lat['p95_ms']:.1f} |")
    print(f"\n{stats['frames_out']} of {stats['frames_in']} frames rendered "
          f"({stats['dropped']} dropped as stale), {stats['fps_out']:.1f} fps out of "
          f"{spec.fps:.0f} offered")
    print(f"wrote {out_dir / 'demo.mp4'} and {out_dir / 'demo.json'}")
    return 0
