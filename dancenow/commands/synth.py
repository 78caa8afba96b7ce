"""Render the synthetic actor dancing and write its ground-truth keypoints.

Writes OUT (.mp4, or .y4m for a browser's fake webcam) and OUT's stem + `.kp.npz`
beside it. In the ground truth, joints outside the frame keep their coordinates and
have visibility 0.

Camera options film what real cameras give: any even frame size and aspect (--size
WxH), a framing (--framing full | desk | zoom), the actor anywhere across the frame
(--place-x) and a second actor farther back (--second-actor; its ground truth goes to
OUT's stem + `.second.kp.npz`).

With --keypoints, the actor performs the given poses instead of a built-in motion
(retargeted to the actor's bone lengths, keeping the root trajectory); frame size and
rate then come from the keypoints file, and the camera options do not apply.
"""

from __future__ import annotations

import argparse
import logging
import re
from typing import TYPE_CHECKING

from engine.errors import InputError
from engine.keypoints import KeypointTrack, keypoints_path_for

if TYPE_CHECKING:
    from synth.clip import ClipSpec

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from synth.appearance import ACTORS
    from synth.clip import SECOND_DEPTH, SECOND_GAP
    from synth.framing import ZOOM_TIMING
    from synth.motions import MOTIONS

    p.add_argument("--actor", default="performer", choices=list(ACTORS),
                   help="who dances")
    motions = "; ".join(f"{k}: {v[1]}" for k, v in MOTIONS.items())
    p.add_argument("--motion", default="dance", choices=list(MOTIONS), metavar="NAME",
                   help=f"built-in motion ({motions})")
    p.add_argument("--keypoints", metavar="KP_NPZ",
                   help="perform these poses instead of a built-in motion")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate")
    p.add_argument("--seed", type=int, default=0, help="varies tempo, amplitude and phase")
    cam = p.add_argument_group(
        "camera", "Frame sizes must be even (video writers need them so), 64..4096 pixels.")
    cam.add_argument("--size", metavar="N|WxH",
                     help="frame size: N for N x N, or WxH such as 1280x720, 640x480 or "
                          "720x1280 (portrait). Default: 512x512 for --framing full, "
                          "910x512 (16:9) for desk and zoom")
    cam.add_argument("--width", type=int, metavar="PX",
                     help="frame width instead of --size; without --height, the height "
                          "follows the framing's aspect (1:1 full, 16:9 desk and zoom)")
    cam.add_argument("--height", type=int, metavar="PX",
                     help="frame height instead of --size (see --width)")
    t = ZOOM_TIMING
    cam.add_argument("--framing", metavar="NAME",
                     help="full (default): the whole body, as tall as the frame in landscape "
                          "and square frames, as wide as it in portrait ones; desk: a laptop "
                          "webcam at a desk, head to hips in view, the hips near the bottom "
                          "edge, knees and feet below the frame; zoom: the whole body, then "
                          f"a smooth zoom in to the desk view and back out, repeating "
                          f"({t.wide:g} s whole body, {t.zoom_in:g} s zooming in, "
                          f"{t.close:g} s desk, {t.zoom_out:g} s zooming out)")
    cam.add_argument("--place-x", type=float, metavar="F",
                     help="where the actor stands across the frame, as a fraction of its "
                          "width (0 = left edge, 0.5 = centre, the default, 1 = right edge); "
                          "the parts that leave the frame get visibility 0")
    cam.add_argument("--second-actor", metavar="NAME",
                     help=f"a second actor in the room ({', '.join(ACTORS)}; another one than "
                          f"--actor), {SECOND_DEPTH:g} m farther back, drawn in depth order; "
                          f"its ground truth goes to OUT's stem + .second.kp.npz")
    cam.add_argument("--second-motion", metavar="NAME",
                     help="what the second actor does (a built-in motion; default idle)")
    cam.add_argument("--second-place-x", type=float, metavar="F",
                     help=f"where the second actor stands, as --place-x (default: "
                          f"{SECOND_GAP:g} of the width right of the actor, or left of it "
                          "when the actor stands right of the centre)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output video (.mp4 or .y4m)")


_CAMERA_OPTIONS = ("size", "width", "height", "framing", "place_x", "second_actor",
                   "second_motion", "second_place_x")


def parse_size(text: str) -> tuple[int | None, int | None, int | None]:
    """`--size`: "N" -> (N, None, None); "WxH" -> (None, W, H)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not m:
        raise InputError(f"--size must be N or WxH (e.g. 512 or 1280x720), got {text!r}")
    if m.group(2) is None:
        return int(m.group(1)), None, None
    return None, int(m.group(1)), int(m.group(2))


def clip_spec(args: argparse.Namespace) -> ClipSpec:
    """The clip that the arguments describe (validated)."""
    from synth.clip import ClipSpec

    if args.second_actor is None and (args.second_motion or args.second_place_x is not None):
        raise InputError("--second-motion and --second-place-x need --second-actor")
    size, width, height = parse_size(args.size) if args.size is not None else (None, None, None)
    if args.size is not None and (args.width is not None or args.height is not None):
        raise InputError("give the frame size either as --size or as --width/--height")
    if args.width is not None or args.height is not None:
        width, height = args.width, args.height
    extra = {}
    if size is not None:  # --size N: a square frame, whatever the framing
        extra["size"], width, height = size, size, size
    if args.place_x is not None:
        extra["place_x"] = args.place_x
    if args.second_motion is not None:
        extra["second_motion"] = args.second_motion
    spec = ClipSpec(actor=args.actor, motion=args.motion, seconds=args.seconds, fps=args.fps,
                    seed=args.seed, width=width, height=height,
                    framing=args.framing or "full", second_actor=args.second_actor,
                    second_place_x=args.second_place_x, **extra)
    spec.validate()
    return spec


def run(args: argparse.Namespace) -> int:
    from synth.clip import SECOND_TAG, synth_clip, synth_from_keypoints

    if args.keypoints:
        given = [f"--{name.replace('_', '-')}" for name in _CAMERA_OPTIONS
                 if getattr(args, name) is not None]
        if given:
            raise InputError(f"{', '.join(given)} cannot be used with --keypoints (frame size "
                             "and camera come from the keypoints file)")
        track = synth_from_keypoints(args.actor, KeypointTrack.load(args.keypoints),
                                     args.output, progress=args.progress)
    else:
        spec = clip_spec(args)
        track = synth_clip(spec, args.output, progress=args.progress)
    log.info("%s: %d frames at %g fps, %dx%d; keypoints in %s", args.output, len(track),
             track.fps, *track.size, keypoints_path_for(args.output))
    if not args.keypoints and spec.second_actor is not None:
        log.info("second actor (%s, %s): keypoints in %s", spec.second_actor,
                 spec.second_motion, keypoints_path_for(args.output, SECOND_TAG))
    return 0
