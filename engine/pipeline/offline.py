"""Offline rendering, the paper's own use: a whole source video -> the avatar dancing it.

Unlike the live pipeline, the whole source is known in advance: poses are estimated
for every frame first, smoothed with the paper's centred median, and normalized with
the source video's own statistics (offline normalization); then each frame's label map
is rendered in order with temporal feedback. Frames without a person hold the last
pose, then ease to a neutral standing pose, as live. The output keeps the source's
frame rate and copies its audio track; it is written under a temporary name and only
appears when complete.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engine.avatar import AvatarBundle
from engine.errors import InputError
from engine.filters import median_smooth
from engine.normalize import OfflineNormalizer, compute_stats
from engine.pipeline.steps import GapBridge, label_and_face, standing_pose
from engine.pose.video import estimate_video
from engine.renderer import AvatarRenderer
from engine.skeleton import fit_square, render_label_image, tensor_to_image
from engine.video import Mp4Writer, probe, read_frames

log = logging.getLogger(__name__)

LAYOUTS = ("avatar", "side-by-side")


@dataclass(frozen=True)
class RenderOptions:
    backend: str = "ort-cpu"  # runner of the avatar's models
    pose_backend: str = "mediapipe"  # pose estimator for the source
    layout: str = "avatar"  # avatar | side-by-side (source | pose | avatar)
    smooth: int = 5  # centred median window over the poses (odd; 1 = off)
    hold_seconds: float = 0.5  # a lost person's last pose is kept this long
    ease_seconds: float = 1.0  # then eased to a neutral standing pose

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.smooth < 1 or self.smooth % 2 == 0:
            raise InputError(f"the median window must be odd and >= 1, got {self.smooth}")


def normalized_poses(keypoints: np.ndarray, frame_size: tuple[int, int],
                     bundle: AvatarBundle, smooth: int) -> np.ndarray:
    """The source's poses smoothed, mapped into the avatar's square and normalized."""
    kp = median_smooth(keypoints, smooth) if smooth > 1 else keypoints.copy()
    scale, offset = fit_square(frame_size, bundle.resolution)
    kp[..., 0] = kp[..., 0] * scale[0] + offset[0]
    kp[..., 1] = kp[..., 1] * scale[1] + offset[1]
    return OfflineNormalizer(compute_stats(kp), bundle.normalization)(kp)


def _panel(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    scale, offset = fit_square((w, h), size)
    m = np.array([[scale[0], 0, offset[0]], [0, scale[1], offset[1]]], dtype=np.float64)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR)


def render_video(source: str | os.PathLike[str], bundle: AvatarBundle,
                 out: str | os.PathLike[str], options: RenderOptions | None = None,
                 progress: bool = False) -> dict:
    """Render `source` as the avatar of `bundle` into `out` (MP4); returns a summary."""
    options = options or RenderOptions()
    options.validate()
    source, out = Path(source), Path(out)
    info = probe(source)
    track = estimate_video(source, backend=options.pose_backend, progress=progress)
    found = track.detected()
    if not found.any():
        raise InputError(f"no person found in any of the {len(track)} frames of {source}: "
                         "nothing to render")
    poses = normalized_poses(track.keypoints, (info.width, info.height), bundle, options.smooth)
    size = bundle.resolution
    width = size * (3 if options.layout == "side-by-side" else 1)
    bridge = GapBridge(standing_pose(bundle.normalization), options.hold_seconds,
                       options.ease_seconds)
    restarts = 0
    with AvatarRenderer(bundle, options.backend) as renderer, \
            Mp4Writer(out, width, size, info.fps, audio_from=source) as writer:
        frames = read_frames(source)
        for i, frame in enumerate(tqdm(frames, total=len(track), desc=f"render {source.name}",
                                       unit="frame", disable=not progress, leave=False)):
            if i >= len(track):
                break
            now = i / info.fps
            if found[i]:
                pose = poses[i]
                if bridge.seen(pose, now):
                    renderer.reset()
                    restarts += 1
            else:
                pose = bridge.missing(now)
            label, box = label_and_face(pose, size)
            avatar = tensor_to_image(renderer.render(label.astype(np.float32), box))
            if options.layout == "side-by-side":
                figure = render_label_image(pose, size, size)
                avatar = np.concatenate([_panel(frame, size), figure, avatar], axis=1)
            writer.write(avatar)
    return {"frames": len(track), "person_frames": int(found.sum()), "fps": info.fps,
            "restarts": restarts, "output": str(out), "layout": options.layout}
