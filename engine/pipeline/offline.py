"""Offline rendering, the paper's own use: a whole source video -> the avatar dancing it.

Unlike the live pipeline, the whole source is known in advance: poses are estimated
for every frame first (joints outside the frame dropped), smoothed with the paper's
centred median, and normalized with the source video's own statistics (offline
normalization, where the source shows the whole body at all); then each frame goes
through the same framing as live (`engine.framing`: upper-body placement when the legs
are out of view, joints not there completed, a lost person held then eased to a neutral
standing pose) and its label map is rendered in order with temporal feedback. A file has
no delay to hide, so the pose is not predicted ahead unless asked (`predict`: a fixed
horizon, the live predictor run frame by frame as live would). Any
aspect ratio and framing of the source works (portrait, landscape, desk view). The
output keeps the source's frame rate and copies its audio track; it is written under a
temporary name and only appears when complete.
"""

from __future__ import annotations

import dataclasses
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
from engine.framing import MODES, Framed, Framing, FramingConfig
from engine.keypoints import drop_unseen
from engine.normalize import OfflineNormalizer, compute_stats
from engine.pipeline.steps import label_and_face
from engine.pose.video import estimate_video
from engine.predict.setting import PredictSetting, parse_predict
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
    predict: str = "off"  # off, or milliseconds to predict each pose ahead (auto: off)

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.smooth < 1 or self.smooth % 2 == 0:
            raise InputError(f"the median window must be odd and >= 1, got {self.smooth}")
        parse_predict(self.predict)


def predicted_poses(framed: list[Framed], fps: float, setting: PredictSetting) -> list[Framed]:
    """The framed poses predicted `setting.fixed_ms` ahead, frame by frame in order (as the
    live pipeline does; restarting where the framing restarts or holds). `auto` and `off`
    leave them as they are: a file has no delay."""
    if setting.mode != "fixed" or not setting.enabled:
        return framed
    from engine.predict.predictor import PosePredictor

    predictor = PosePredictor()
    out = []
    for i, f in enumerate(framed):
        if f.restart or f.held or f.mode == "none":
            predictor.reset()
            out.append(f)
            continue
        pose = predictor(f.pose, i / fps, setting.requested_s(None))
        out.append(dataclasses.replace(f, pose=pose))
    return out


def source_normalizer(keypoints: np.ndarray,
                      bundle: AvatarBundle) -> OfflineNormalizer | None:
    """The paper's normalization with the source's own statistics, or None when the source
    never shows the whole body (a desk view: then only the upper-body placement is used)."""
    try:
        stats = compute_stats(keypoints)
    except InputError:
        return None
    return OfflineNormalizer(stats, bundle.normalization)


def framed_poses(keypoints: np.ndarray, frame_size: tuple[int, int], bundle: AvatarBundle,
                 smooth: int, fps: float, options: RenderOptions | None = None) -> list[Framed]:
    """The source's poses (joints outside the frame dropped) smoothed, mapped into the
    avatar's square, normalized and completed, frame by frame (`engine.framing`)."""
    options = options or RenderOptions()
    kp = drop_unseen(keypoints, frame_size)
    kp = median_smooth(kp, smooth) if smooth > 1 else kp
    scale, offset = fit_square(frame_size, bundle.resolution)
    kp[..., 0] = kp[..., 0] * scale[0] + offset[0]
    kp[..., 1] = kp[..., 1] * scale[1] + offset[1]
    framing = Framing(bundle.normalization, bundle.resolution, source_normalizer(kp, bundle),
                      FramingConfig(hold_seconds=options.hold_seconds,
                                    ease_seconds=options.ease_seconds))
    return [framing(pose, i / fps) for i, pose in enumerate(kp)]


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
    framed = framed_poses(track.keypoints, (info.width, info.height), bundle, options.smooth,
                          info.fps, options)
    framed = predicted_poses(framed, info.fps, parse_predict(options.predict))
    size = bundle.resolution
    width = size * (3 if options.layout == "side-by-side" else 1)
    restarts = 0
    with AvatarRenderer(bundle, options.backend) as renderer, \
            Mp4Writer(out, width, size, info.fps, audio_from=source) as writer:
        frames = read_frames(source)
        for i, frame in enumerate(tqdm(frames, total=len(track), desc=f"render {source.name}",
                                       unit="frame", disable=not progress, leave=False)):
            if i >= len(track):
                break
            pose = framed[i].pose
            if framed[i].restart:
                renderer.reset()
                restarts += 1
            label, box = label_and_face(pose, size)
            avatar = tensor_to_image(renderer.render(label.astype(np.float32), box))
            if options.layout == "side-by-side":
                figure = render_label_image(pose, size, size)
                avatar = np.concatenate([_panel(frame, size), figure, avatar], axis=1)
            writer.write(avatar)
    modes = [f.mode for f in framed]
    return {"frames": len(track), "person_frames": int(found.sum()), "fps": info.fps,
            "restarts": restarts, "output": str(out), "layout": options.layout,
            "modes": {m: modes.count(m) for m in MODES}}
