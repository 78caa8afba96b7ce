"""The BlazePose estimator: a real photo, a blank frame, bad input, video mode."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from engine.errors import InputError
from engine.keypoints import LM
from engine.pose import create_estimator, estimator_names

# Where they are in skimage's astronaut photo (512x512), marked by hand: the tip of the
# nose, and the shoulder joints under the suit (her right shoulder is on the image's left).
ASTRONAUT = {"nose": ((220, 128), 12), "right_shoulder": ((112, 245), 25),
             "left_shoulder": ((312, 258), 25)}


def test_astronaut_nose_and_shoulders_land_where_they_are() -> None:
    with create_estimator("mediapipe", video=False) as est:
        pose = est.estimate(data.astronaut())
    assert pose.shape == (33, 3) and pose.dtype == np.float32
    for name, ((x, y), tol) in ASTRONAUT.items():
        px, py, vis = pose[LM[name]]
        assert np.hypot(px - x, py - y) <= tol, (name, px, py)
        assert vis > 0.9


def test_blank_frame_gives_missing_pose() -> None:
    with create_estimator("mediapipe", video=False) as est:
        pose = est.estimate(np.full((256, 256, 3), 127, np.uint8))
    assert np.isnan(pose[:, :2]).all() and (pose[:, 2] == 0).all()


@pytest.mark.parametrize("frame", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3)),
                                   np.zeros((64, 64, 4), np.uint8)])
def test_bad_frames_are_rejected(frame) -> None:
    with create_estimator("mediapipe", video=False) as est, pytest.raises(InputError):
        est.estimate(frame)


def test_unknown_backend() -> None:
    assert "mediapipe" in estimator_names()
    with pytest.raises(InputError, match="unknown pose backend"):
        create_estimator("nope")


def test_video_mode_tracks_a_synthetic_clip(performer_clip) -> None:
    from engine.metrics import pck
    from engine.video import read_frames

    path, truth = performer_clip
    with create_estimator("mediapipe", video=True) as est:
        poses = np.stack([est.estimate(f) for f in read_frames(path)])
        est.reset()
        again = est.estimate(next(iter(read_frames(path))))
    assert np.isfinite(poses[:, :, :2]).all()
    assert pck(poses, truth.keypoints, 0.2) > 0.9
    assert np.isfinite(again).all()
