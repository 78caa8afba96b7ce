"""The built-in demonstration, with nothing to download and no GPU.

Makes a synthetic performer clip, then runs it through the live chain as far as it
exists: decode -> pose (BlazePose) -> one-euro filter + online normalization to the
target actor's framing -> label map (native kernel). Writes OUT/demo.mp4
(performer | detected pose | label map the generator will see), prints a per-stage
latency table, the achieved frame rate and the pose accuracy against the clip's
ground truth.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from train.synth.motions import MOTIONS

    p.add_argument("-o", "--output", default="demo_out", metavar="DIR",
                   help="folder for demo.mp4, the clip and the results")
    p.add_argument("--motion", default="dance", choices=list(MOTIONS), help="performer's motion")
    p.add_argument("--seconds", type=float, default=8.0, help="clip length")
    p.add_argument("--size", type=int, default=512, help="camera frame size, pixels")
    p.add_argument("--label-size", type=int, default=256,
                   help="label map (generator input) size, pixels")
    p.add_argument("--seed", type=int, default=0, help="performer's tempo and phase")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from engine.filters import PoseFilter
    from engine.metrics import detection_rate, pck
    from engine.normalize import OnlineNormalizer
    from engine.pose import create_estimator
    from engine.pose.video import draw_overlay
    from engine.skeleton import fit_square, render_label_map, tensor_to_image
    from engine.timing import StageTimes
    from engine.video import Mp4Writer, read_frames
    from train.synth.clip import ClipSpec, synth_clip
    from train.synth.reference import target_stats

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = ClipSpec(actor="performer", motion=args.motion, seconds=args.seconds, size=args.size,
                    seed=args.seed)
    clip = out_dir / "performer.mp4"
    truth = synth_clip(spec, clip, progress=args.progress)
    normalizer = OnlineNormalizer(target_stats(args.label_size), calibration_frames=30)
    smoother = PoseFilter()
    scale, offset = fit_square((args.size, args.size), args.label_size)
    times = StageTimes()
    poses, label = [], None
    panel = args.label_size
    start = time.perf_counter()
    with create_estimator("mediapipe", video=True) as estimator, \
            Mp4Writer(out_dir / "demo.mp4", 3 * panel, panel, spec.fps) as writer:
        frames = read_frames(clip)
        for i in tqdm(range(spec.frames), desc="demo", unit="frame", disable=not args.progress,
                      leave=False):
            with times.time("decode"):
                frame = next(frames)
            with times.time("pose"):
                pose = estimator.estimate(frame)
            poses.append(pose)
            with times.time("filter + normalize"):
                steady = smoother(pose, i / spec.fps)
                # Normalize in label-map pixels: the target's statistics live there.
                in_label = steady.copy()
                in_label[:, 0] = steady[:, 0] * scale[0] + offset[0]
                in_label[:, 1] = steady[:, 1] * scale[1] + offset[1]
                normalized = normalizer(in_label)
            with times.time("label map"):
                label = render_label_map(normalized, panel, panel, out=label)
            small = _resize(frame, panel)
            writer.write(np.concatenate([small, _resize(draw_overlay(frame, pose), panel),
                                         tensor_to_image(label)], axis=1))
    elapsed = time.perf_counter() - start
    pred = np.stack(poses)
    results = {
        "frames": spec.frames, "seconds": round(elapsed, 2),
        "fps": round(spec.frames / elapsed, 1),
        "detection_rate": round(detection_rate(pred), 4),
        "pck@0.2": round(pck(pred, truth.keypoints, 0.2), 4),
        "pck@0.1": round(pck(pred, truth.keypoints, 0.1), 4),
        "stages": times.summary(),
    }
    (out_dir / "demo.json").write_text(json.dumps(results, indent=2))
    print(times.table())
    print(f"\n{spec.frames} frames in {elapsed:.1f} s = {results['fps']} fps (sequential, "
          f"including video writing); detection {100 * results['detection_rate']:.1f}%, "
          f"PCK@0.2 {results['pck@0.2']:.3f}, PCK@0.1 {results['pck@0.1']:.3f}")
    print(f"wrote {out_dir / 'demo.mp4'} and {out_dir / 'demo.json'}")
    return 0


def _resize(frame, size: int):  # noqa: ANN001, ANN202 - numpy in, numpy out
    import cv2

    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
