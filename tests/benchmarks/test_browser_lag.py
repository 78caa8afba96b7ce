"""The Chromium motion lag benchmark's parts that need no browser: the clip index along
the frame's bottom edge, and lining up the page's logs with the server's records."""

from __future__ import annotations

import numpy as np

from benchmarks.browser_lag import analyze, clip_index
from engine.keypoints import LIMB_JOINTS
from server import framecode


def test_the_clip_index_survives_beside_the_pages_own_code() -> None:
    image = np.full((240, 320, 3), 90, np.uint8)
    framecode.draw(image[::-1], 1234)  # along the bottom, as the webcam clip has it
    framecode.draw(image, 77)  # the page's code along the top
    assert clip_index(image) == 1234
    assert framecode.read(image) == 77


def test_a_drawn_pose_that_trails_by_a_delay_is_measured_at_that_lag() -> None:
    frames = 300
    t = np.arange(frames) / 30.0
    truth = np.ones((frames, 33, 3), np.float32)
    truth[..., 0] = 200 + 60 * np.sin(2 * np.pi * 0.8 * t)[:, None] + np.arange(33)
    truth[..., 1] = 100 + 30 * np.cos(2 * np.pi * 0.8 * t)[:, None] + 3 * np.arange(33)
    truth[:, 0, 1] = 20  # the nose
    truth[:, [27, 28], 1] = 400  # the ankles
    lag = 0.1
    records, sent, shown = {}, [], []
    for code in range(frames - 10):
        captured = 5.0 + t[code]  # the page's clock, seconds
        sent.append([code, captured * 1e3])
        # drawn from the camera frame that showed the clip as it was `lag` before display
        shown_at = captured + 0.12
        back = int(round((shown_at - lag - 5.0) * 30))
        pose = truth[min(max(back, 0), frames - 1)][list(LIMB_JOINTS), :2] * 0.5 + 7
        records[code] = (code, pose.astype(np.float64))
        shown.append([code, shown_at * 1e3])
    blocks = [(5.0, 7.0, "off"), (7.0, 9.0, "auto"), (9.0, 11.0, "off")]
    result = analyze({"sent": sent, "shown": shown}, records, truth, blocks, settle=0.2)
    assert abs(result["off"]["lag_ms"] - lag * 1e3) < 20
    assert result["frames_traced"] == frames - 10
