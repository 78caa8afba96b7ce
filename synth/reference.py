"""Ground-truth statistics of the built-in actors, from their motions (no rendering)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.normalize import NormalizationStats, compute_stats
from synth.appearance import get_actor
from synth.body import Camera
from synth.clip import pose_at
from synth.motions import MOTIONS, Tempo


def actor_keypoints(actor: str, size: int, seconds: float = 10.0, fps: float = 10.0,
                    seed: int = 0) -> np.ndarray:
    """Ground-truth keypoints `[T, 33, 3]` of an actor through every built-in motion."""
    app = get_actor(actor)
    cam = Camera.for_size(size, size)
    tempo = Tempo.from_seed(seed)
    n = int(seconds * fps)
    return np.stack([pose_at(app, cam, motion, tempo, i / fps)[0]
                     for motion in MOTIONS for i in range(n)])


@lru_cache(maxsize=8)
def target_stats(size: int, actor: str = "target") -> NormalizationStats:
    """Normalization statistics of an actor filmed at `size` x `size`."""
    return compute_stats(actor_keypoints(actor, size))
