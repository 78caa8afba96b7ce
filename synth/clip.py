"""Assemble synthetic clips: actors performing motions, frames plus ground truth.

A clip is one actor (whose keypoints go in `clip.kp.npz`), optionally a second one
farther back (`clip.second.kp.npz`), filmed by a framing of `synth.framing` in a frame
of any even size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.keypoints import KeypointTrack, keypoints_path_for, visible_mask
from engine.video import open_writer
from synth.appearance import Appearance, get_actor
from synth.body import Camera
from synth.framing import FRAMINGS, Framing, default_aspect
from synth.motions import Tempo, get_motion
from synth.render import render_actor
from synth.room import RoomCanvas, room
from synth.scene import Player, draw, pose

log = logging.getLogger(__name__)

MIN_SIDE, MAX_SIDE = 64, 4096  # frame sides, pixels
SECOND_DEPTH = 1.0  # metres the second actor stands behind the first one's usual distance
SECOND_GAP = 0.3  # default distance across the frame between the actors, fraction of width
SECOND_TAG = "second"  # its keypoints: clip.second.kp.npz


def _even(x: float) -> int:
    return int(2 * round(x / 2))


@dataclass(frozen=True)
class ClipSpec:
    """What to synthesize.

    The frame is `width` x `height`. Where neither is given it is `size` x `size` for
    the `full` framing, and `size` high in 16:9 for `desk` and `zoom`; where one is
    given, the other follows that aspect.
    """

    actor: str = "performer"
    motion: str = "dance"
    seconds: float = 10.0
    size: int = 512
    fps: float = 30.0
    seed: int = 0
    width: int | None = None  # frame width, pixels (even)
    height: int | None = None  # frame height, pixels (even)
    framing: str = "full"  # full | desk | zoom (synth.framing.FRAMINGS)
    place_x: float = 0.5  # the actor's position across the frame, fraction of the width
    second_actor: str | None = None  # another actor in the room, farther back
    second_motion: str = "idle"  # what the second actor does (calmer than a dance)
    second_place_x: float | None = None  # its position; default SECOND_GAP from the actor

    def validate(self) -> None:
        get_actor(self.actor)
        get_motion(self.motion)
        if not (self.seconds > 0):
            raise InputError(f"--seconds must be positive, got {self.seconds}")
        if self.size < MIN_SIDE or self.size % 2:
            raise InputError(f"--size must be an even number >= {MIN_SIDE}, got {self.size}")
        if not (1 <= self.fps <= 240):
            raise InputError(f"--fps must be within 1..240, got {self.fps}")
        if self.framing not in FRAMINGS:
            raise InputError(f"unknown framing {self.framing!r}; choose from "
                             f"{', '.join(FRAMINGS)}")
        width, height = self.frame_size
        if not all(MIN_SIDE <= v <= MAX_SIDE and v % 2 == 0 for v in (width, height)):
            raise InputError(f"the frame size must be even numbers of pixels within "
                             f"{MIN_SIDE}..{MAX_SIDE} (video writers need even sizes), "
                             f"got {width}x{height}")
        if not (0.0 <= self.place_x <= 1.0):
            raise InputError(f"--place-x must be within 0..1 (a fraction of the frame width), "
                             f"got {self.place_x}")
        if self.second_actor is not None:
            get_actor(self.second_actor)
            get_motion(self.second_motion)
            if self.second_actor == self.actor:
                raise InputError(f"the second actor must be another actor than "
                                 f"{self.actor!r}, so that the two can be told apart")
            if not (0.0 <= self.second_x <= 1.0):
                raise InputError(f"--second-place-x must be within 0..1, got {self.second_x}")

    @property
    def frames(self) -> int:
        return max(int(round(self.seconds * self.fps)), 1)

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        aspect = default_aspect(self.framing) if self.framing in FRAMINGS else 1.0
        width, height = self.width, self.height
        if width is None and height is None:
            height = self.size
            width = self.size if aspect == 1.0 else _even(self.size * aspect)
        elif width is None:
            width = _even(height * aspect)
        elif height is None:
            height = _even(width / aspect)
        return int(width), int(height)

    @property
    def second_x(self) -> float:
        """Where the second actor stands across the frame, fraction of the width."""
        if self.second_place_x is not None:
            return self.second_place_x
        return self.place_x + (SECOND_GAP if self.place_x <= 0.5 else -SECOND_GAP)

    def camera_framing(self) -> Framing:
        width, height = self.frame_size
        return Framing(self.framing, width, height, self.place_x)


def players(spec: ClipSpec) -> list[Player]:
    """The actors of a clip: the main one first, then the second one if any.

    The second actor stands `SECOND_DEPTH` farther back, across the floor so that the
    clip's widest view shows it at `spec.second_x` of the width.
    """
    main = Player(get_actor(spec.actor), spec.motion, Tempo.from_seed(spec.seed))
    if spec.second_actor is None:
        return [main]
    tempo = Tempo.from_seed(spec.seed + 1)
    cam = spec.camera_framing().widest()
    depth = tempo.depth + SECOND_DEPTH
    x = (spec.second_x - spec.place_x) * cam.width * depth / cam.focal
    return [main, Player(get_actor(spec.second_actor), spec.second_motion, tempo, x=x,
                         depth=SECOND_DEPTH)]


def pose_at(app: Appearance, cam: Camera, motion: str, tempo: Tempo,
            t: float) -> tuple[np.ndarray, float]:
    """Landmarks `[33, 3]` (x px, y px, visibility: 1 inside the frame, 0 outside) and
    pixels per metre at time t."""
    posed = pose(Player(app, motion, tempo), cam, t)
    return posed.keypoints, posed.scale


def clip_keypoints(spec: ClipSpec) -> np.ndarray:
    """Ground truth `[frames, actors, 33, 3]` of a clip, without drawing it."""
    spec.validate()
    framing = spec.camera_framing()
    cast = players(spec)
    times = [i / spec.fps for i in range(spec.frames)]
    return np.stack([[pose(p, framing.camera_at(t), t).keypoints for p in cast]
                     for t in times])


def synthesize_scene(spec: ClipSpec) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(frame RGB, keypoints [actors, 33, 3])`, the main actor first."""
    spec.validate()
    framing = spec.camera_framing()
    cast = players(spec)
    canvas = RoomCanvas(cast[0].app, framing.widest()) if framing.moving else None
    for i in range(spec.frames):
        t = i / spec.fps
        cam = framing.camera_at(t)
        posed = [pose(p, cam, t) for p in cast]
        frame = canvas.view(cam) if canvas is not None else room(cast[0].app, cam).copy()
        yield draw(frame, posed), np.stack([p.keypoints for p in posed])


def synthesize(spec: ClipSpec) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(frame RGB, keypoints [33, 3])` for every frame of the clip (main actor)."""
    for frame, kps in synthesize_scene(spec):
        yield frame, kps[0]


def write_clip(frames: Iterator[tuple[np.ndarray, np.ndarray]], total: int, out: Path,
               size: tuple[int, int], fps: float, progress: bool = True,
               extra_tags: tuple[str, ...] = ()) -> KeypointTrack:
    """Write frames to `out` (.mp4 or .y4m) and their keypoints beside it (`.kp.npz`).

    Each item's keypoints are `[33, 3]` or `[1 + len(extra_tags), 33, 3]`: the first
    pose goes to `OUT.kp.npz`, the others to `OUT.TAG.kp.npz`.
    Returns the first track.
    """
    out = Path(out)
    poses = []
    with open_writer(out, size[0], size[1], fps) as writer:
        for frame, kp in tqdm(frames, total=total, desc=f"synth {out.name}", unit="frame",
                              disable=not progress, leave=False):
            writer.write(frame)
            poses.append(kp)
    stacked = np.stack(poses)
    if stacked.ndim == 3:
        stacked = stacked[:, None]
    if stacked.shape[1] != 1 + len(extra_tags):
        raise ValueError(f"{stacked.shape[1]} poses per frame for {1 + len(extra_tags)} tracks")
    track = KeypointTrack(stacked[:, 0], fps, size)
    track.save(keypoints_path_for(out))
    for i, tag in enumerate(extra_tags, start=1):
        KeypointTrack(stacked[:, i], fps, size).save(keypoints_path_for(out, tag))
    log.debug("wrote %s and %s (%d frames)", out, keypoints_path_for(out), len(track))
    return track


def synth_clip(spec: ClipSpec, out: str | os.PathLike[str],
               progress: bool = True) -> KeypointTrack:
    """Render a procedural clip to `out` and its ground-truth keypoints (the main actor's;
    a second actor's go to `OUT.second.kp.npz`)."""
    spec.validate()
    tags = (SECOND_TAG,) if spec.second_actor is not None else ()
    return write_clip(synthesize_scene(spec), spec.frames, Path(out), spec.frame_size,
                      spec.fps, progress, extra_tags=tags)


def retargeted_frames(app: Appearance, keypoints: np.ndarray, px_per_m: np.ndarray,
                      size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of `app` posed at already retargeted keypoints, and their ground truth
    (joints outside the frame, or not there in the source, get visibility 0)."""
    for kp, scale in zip(keypoints, px_per_m, strict=True):
        truth = kp.copy()
        truth[:, 2] = np.where(visible_mask(kp, size, edge=0.0), kp[:, 2], 0.0)
        yield render_actor(app, kp, float(scale), size[0], size[1]), truth


def synth_from_keypoints(actor: str, source: KeypointTrack, out: str | os.PathLike[str],
                         progress: bool = True) -> KeypointTrack:
    """Render `actor` performing the poses of `source` (retargeted to its bones)."""
    from synth.retarget import retarget

    app = get_actor(actor)
    kp, px_per_m = retarget(source.keypoints, app, source.fps)
    width, height = source.size
    if width % 2 or height % 2:
        raise InputError(f"the keypoints' frame size {width}x{height} must be even")
    return write_clip(retargeted_frames(app, kp, px_per_m, source.size), len(kp), Path(out),
                      source.size, source.fps, progress)
