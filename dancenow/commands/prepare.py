"""Prepare video(s) of the target person for training.

Decodes each video, estimates the poses (BlazePose) on the whole frames, cuts one
square window per video centred on the person (padded where the person does not fit a
square inside the frame) and resizes it, and writes frames, keypoints, label maps, face
boxes, the target's normalization statistics and a manifest into DATA. The last 10% of
each video is held out for validation. Running it again on the same inputs does nothing.

Prints, per video, its crop window and how many frames show the whole body or are cut
by the video's own frame, then how well the target's poses cover what performers do
(limb angle ranges, raised arms, crouching, turning, lifted legs) with warnings.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video(s) of the target person")
    p.add_argument("-o", "--output", required=True, metavar="DATA", help="data folder to write")
    p.add_argument("--size", type=int, default=256,
                   help="frame and label-map size in pixels: the preset's resolution (256 for "
                        "cpu-rt and balanced, 512 for hd, 64 for tiny)")
    p.add_argument("--max-frames", type=int, metavar="N", help="use at most N frames per video")
    p.add_argument("--crop-like", metavar="DATA",
                   help="cut videos through the crop window of this prepared data folder "
                        "(for held-out footage of a target: judged in the framing the "
                        "avatar was trained on); frame sizes it lacks get their own window")
    p.add_argument("--min-person-frames", type=int, default=30, metavar="N",
                   help="stop with an error when fewer frames than this show a person")


def run(args: argparse.Namespace) -> int:
    from engine.errors import InputError
    from train.coverage import format_coverage
    from train.data import PrepareOptions, crop_windows_of, prepare, read_manifest

    options = PrepareOptions(size=args.size, max_frames=args.max_frames,
                             min_person_frames=args.min_person_frames)
    windows = None
    if args.crop_like:
        windows = crop_windows_of(read_manifest(args.crop_like))
        if not windows:
            raise InputError(f"{args.crop_like} records no crop window (prepared by an older "
                             "version): prepare it again, or leave out --crop-like")
    manifest = prepare(args.videos, args.output, options, progress=args.progress,
                       windows=windows)
    counts = manifest["counts"]
    log.info("%s: %d frames, %d with a person (%d train, %d validation), %d face boxes",
             args.output, manifest["frames"], counts["detected"], counts["train"],
             counts["val"], counts["faces"])
    print(format_sources(manifest["sources"]))
    if "coverage" in manifest:
        print(format_coverage(manifest["coverage"]))
    return 0


def format_sources(sources: list[dict]) -> str:
    """One line per source video: size, crop window, whole-body and cut frames."""
    lines = ["source framing"]
    for src in sources:
        if "crop" not in src:  # a folder prepared by an older version
            continue
        width, height = src["frame_size"]
        crop = src["crop"]
        padded = sum(crop["padding"].values()) > 0
        lines.append(
            f"  {Path(src['path']).name}: {width}x{height}, crop x0={crop['x0']} "
            f"y0={crop['y0']} side={crop['side']}{' (padded)' if padded else ''}; "
            f"{src['detected']} of {src['frames']} frames with a person, "
            f"{src['whole_body']} whole body, {src['cut']} cut by the frame "
            f"({src['cut_share']:.0%})")
    return "\n".join(lines)
