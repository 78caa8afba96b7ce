"""Actors in a scene: each posed by its motion, filmed by a camera, drawn far to near.

A `Player` is an actor performing a motion, moved across the floor and away from the
camera by fixed offsets. Its ground truth is BlazePose's 33 landmarks in the frame's
pixels; a joint outside the frame keeps its coordinates and gets visibility 0, by the
project's one rule for a joint that is there (`engine.keypoints.visible_mask`).
Occlusion by another actor is not marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.keypoints import NUM_LANDMARKS, visible_mask
from synth.appearance import Appearance
from synth.body import Camera, forward_kinematics
from synth.motions import Tempo, get_motion
from synth.render import draw_actor


@dataclass(frozen=True)
class Player:
    """An actor performing a motion, placed in the room."""

    app: Appearance
    motion: str
    tempo: Tempo
    x: float = 0.0  # metres added to the motion's root position across the floor
    depth: float = 0.0  # metres added to the motion's distance from the camera


@dataclass(frozen=True)
class Posed:
    """One player in one frame."""

    app: Appearance
    keypoints: np.ndarray  # float32 [33, 3]: x px, y px, visibility 0 or 1
    scale: float  # pixels per metre at the body
    depth: float  # distance of the root from the camera, metres


def pose(player: Player, cam: Camera, t: float) -> Posed:
    """`player` at time `t` (seconds) through `cam`."""
    params = get_motion(player.motion)(t, player.tempo)
    if player.x or player.depth:
        params = replace(params, x=params.x + player.x, depth=params.depth + player.depth)
    world, _ = forward_kinematics(player.app.body, params)
    uv, _ = cam.project(world)
    kp = np.ones((NUM_LANDMARKS, 3), dtype=np.float32)
    kp[:, :2] = uv
    kp[:, 2] = visible_mask(kp, (cam.width, cam.height_px), edge=0.0)
    return Posed(player.app, kp, cam.scale_at(params.depth), params.depth)


def draw(background: np.ndarray, posed: Sequence[Posed]) -> np.ndarray:
    """Draw the posed players onto `background` (in place, and returned), farthest first."""
    for p in sorted(posed, key=lambda p: -p.depth):
        draw_actor(background, p.app, p.keypoints, p.scale)
    return background
