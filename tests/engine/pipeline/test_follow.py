"""End to end with the committed demo avatars: the avatar follows the performer.

BlazePose re-detects the pose on the avatar frames; the limb joints must lie within
0.05 of the frame height of the normalized pose the avatar was asked to show. The
performer is another body; live it dances (a motion the demo avatar never trained on),
offline it kicks.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from engine.avatar import DEMO_AVATAR, DEMO_LIVE_AVATAR, load_bundle
from engine.keypoints import LIMB_JOINTS
from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
from engine.pipeline.offline import RenderOptions, render_video
from engine.pipeline.sources import FramesSource
from engine.pose import create_estimator
from engine.pose.video import estimate_video
from engine.video import read_frames
from synth.clip import ClipSpec, synth_clip, synthesize

log = logging.getLogger(__name__)


def _limb_distance(poses: list[np.ndarray], frames: list[np.ndarray], size: int) -> float:
    errors = []
    with create_estimator("mediapipe", video=True) as est:
        for pose, frame in zip(poses, frames, strict=True):
            found = est.estimate(frame)
            err = np.linalg.norm(found[LIMB_JOINTS, :2] - pose[LIMB_JOINTS, :2], axis=1)
            errors.append(np.nanmean(err) / size if np.isfinite(err).any() else np.inf)
    errors = np.array(errors)
    assert np.isfinite(errors).mean() >= 0.9, "BlazePose lost the avatar"
    return float(np.mean(errors[np.isfinite(errors)]))


@pytest.mark.parametrize("avatar", [DEMO_AVATAR, DEMO_LIVE_AVATAR], ids=lambda p: p.name)
def test_the_live_avatar_follows_the_performer(avatar) -> None:
    bundle = load_bundle(avatar, verify=True)
    frames = [f for f, _ in synthesize(ClipSpec(actor="performer", motion="dance", seconds=2,
                                                size=512, fps=30, seed=8))]
    shown: list[LiveFrame] = []

    async def sink(frame: LiveFrame) -> None:
        shown.append(frame)

    with LivePipeline(bundle, PipelineConfig(pose_backend="mediapipe")) as pipe:
        # Offered slowly enough that most frames get through on a busy machine.
        asyncio.run(pipe.run(FramesSource(frames, fps=10, realtime=True), sink))
    seen = [f for f in shown if not f.held]
    assert len(seen) >= 20
    d = _limb_distance([f.normalized for f in seen], [f.output for f in seen],
                       bundle.resolution)
    log.info("live, %s: %d frames, mean limb-joint distance %.4f of the height", bundle.name,
             len(seen), d)
    assert d <= 0.05


def test_the_rendered_avatar_follows_the_performer(tmp_path) -> None:
    bundle = load_bundle(DEMO_AVATAR, verify=True)
    source, out = tmp_path / "performer.mp4", tmp_path / "avatar.mp4"
    synth_clip(ClipSpec(actor="performer", motion="kick", seconds=3, size=512, fps=30, seed=9),
               source, progress=False)
    render_video(source, bundle, out, RenderOptions())
    from engine.pipeline.offline import framed_poses
    from engine.video import probe

    info = probe(source)
    track = estimate_video(source, progress=False)
    poses = [f.pose for f in framed_poses(track.keypoints, (info.width, info.height), bundle, 5,
                                          info.fps)]
    d = _limb_distance(list(poses), list(read_frames(out)), bundle.resolution)
    log.info("offline: mean limb-joint distance %.4f of the height", d)
    assert d <= 0.05
