"""Assemble synthetic clips: a motion performed by an actor, frames plus ground truth."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.keypoints import NUM_LANDMARKS, KeypointTrack, keypoints_path_for
from engine.video import open_writer
from synth.appearance import Appearance, get_actor
from synth.body import Camera, forward_kinematics
from synth.motions import Tempo, get_motion
from synth.render import render_actor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipSpec:
    """What to synthesize."""

    actor: str = "performer"
    motion: str = "dance"
    seconds: float = 10.0
    size: int = 512
    fps: float = 30.0
    seed: int = 0

    def validate(self) -> None:
        get_actor(self.actor)
        get_motion(self.motion)
        if not (self.seconds > 0):
            raise InputError(f"--seconds must be positive, got {self.seconds}")
        if self.size < 64 or self.size % 2:
            raise InputError(f"--size must be an even number >= 64, got {self.size}")
        if not (1 <= self.fps <= 240):
            raise InputError(f"--fps must be within 1..240, got {self.fps}")

    @property
    def frames(self) -> int:
        return max(int(round(self.seconds * self.fps)), 1)


def pose_at(app: Appearance, cam: Camera, motion: str, tempo: Tempo,
            t: float) -> tuple[np.ndarray, float]:
    """Landmarks `[33, 3]` (x px, y px, visibility 1) and pixels per metre at time t."""
    params = get_motion(motion)(t, tempo)
    world, _ = forward_kinematics(app.body, params)
    uv, _ = cam.project(world)
    kp = np.ones((NUM_LANDMARKS, 3), dtype=np.float32)
    kp[:, :2] = uv
    return kp, cam.scale_at(params.depth)


def synthesize(spec: ClipSpec) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield `(frame RGB, keypoints [33, 3])` for every frame of the clip."""
    spec.validate()
    app = get_actor(spec.actor)
    cam = Camera.for_size(spec.size, spec.size)
    tempo = Tempo.from_seed(spec.seed)
    for i in range(spec.frames):
        kp, scale = pose_at(app, cam, spec.motion, tempo, i / spec.fps)
        yield render_actor(app, kp, scale, spec.size, spec.size), kp


def write_clip(frames: Iterator[tuple[np.ndarray, np.ndarray]], total: int, out: Path,
               size: tuple[int, int], fps: float, progress: bool = True) -> KeypointTrack:
    """Write frames to `out` (.mp4 or .y4m) and their keypoints beside it (`.kp.npz`)."""
    out = Path(out)
    poses = []
    with open_writer(out, size[0], size[1], fps) as writer:
        for frame, kp in tqdm(frames, total=total, desc=f"synth {out.name}", unit="frame",
                              disable=not progress, leave=False):
            writer.write(frame)
            poses.append(kp)
    track = KeypointTrack(np.stack(poses), fps, size)
    track.save(keypoints_path_for(out))
    log.debug("wrote %s and %s (%d frames)", out, keypoints_path_for(out), len(track))
    return track


def synth_clip(spec: ClipSpec, out: str | os.PathLike[str],
               progress: bool = True) -> KeypointTrack:
    """Render a procedural clip to `out` and its ground-truth keypoints."""
    spec.validate()
    return write_clip(synthesize(spec), spec.frames, Path(out), (spec.size, spec.size),
                      spec.fps, progress)


def retargeted_frames(app: Appearance, keypoints: np.ndarray, px_per_m: np.ndarray,
                      size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of `app` posed at already retargeted keypoints."""
    for kp, scale in zip(keypoints, px_per_m, strict=True):
        yield render_actor(app, kp, float(scale), size[0], size[1]), kp


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
