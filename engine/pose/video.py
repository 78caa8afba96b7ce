"""Pose estimation over a whole video file, with an optional skeleton overlay video."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import InputError
from engine.keypoints import KeypointTrack
from engine.pose.base import create_estimator
from engine.skeleton import LabelMapStyle, render_label_image
from engine.video import Mp4Writer, probe, read_frames

log = logging.getLogger(__name__)


def draw_overlay(frame: np.ndarray, pose: np.ndarray, opacity: float = 0.85) -> np.ndarray:
    """The frame with the pose's stick figure drawn over it."""
    h, w = frame.shape[:2]
    figure = render_label_image(pose, w, h, style=LabelMapStyle.for_size(h))
    alpha = (figure.max(axis=2, keepdims=True).astype(np.float32) / 255.0) * opacity
    return (frame * (1 - alpha) + figure * alpha + 0.5).astype(np.uint8)


def estimate_video(path: str | os.PathLike[str], backend: str = "mediapipe",
                   overlay: str | os.PathLike[str] | None = None,
                   progress: bool = True) -> KeypointTrack:
    """Poses of every frame of a video, in video (tracking) mode.

    A video where nobody is found gives all-missing rows and a warning. With `overlay`,
    also writes the frames with the skeleton drawn on them.
    """
    info = probe(path)
    poses: list[np.ndarray] = []
    writer: Mp4Writer | None = None
    try:
        with create_estimator(backend, video=True) as est:
            frames = read_frames(path)
            for frame in tqdm(frames, total=info.frames, desc=f"pose {Path(path).name}",
                              unit="frame", disable=not progress, leave=False):
                pose = est.estimate(frame)
                poses.append(pose)
                if overlay is not None:
                    if writer is None:
                        h, w = frame.shape[:2]
                        writer = Mp4Writer(overlay, w - w % 2, h - h % 2, info.fps)
                    writer.write(draw_overlay(frame, pose)[: writer.height, : writer.width])
    except BaseException:
        if writer is not None:
            writer.close(ok=False)
        raise
    if writer is not None:
        writer.close()
    if not poses:
        raise InputError(f"{path} holds no video frames")
    track = KeypointTrack(np.stack(poses), info.fps, (info.width, info.height))
    found = track.detected()
    if not found.any():
        log.warning("%s: no person found in any of its %d frames", path, len(track))
    else:
        log.info("%s: person found in %d of %d frames (%.1f%%)", path, found.sum(), len(track),
                 100 * found.mean())
    return track
