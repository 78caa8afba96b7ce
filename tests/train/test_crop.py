"""The per-clip crop window, cutting frames through it, and the source framing counts, on
hand-made poses and frames."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.keypoints import LIMB_JOINTS, LM, NUM_LANDMARKS
from train.crop import (
    MARGIN,
    CropWindow,
    border_fill,
    choose_window,
    cut_window,
    person_extent,
    square_crop,
)
from train.framing import framing_report, warn_if_cut


def figure(cx: float, top: float, height: float, frames: int = 20) -> np.ndarray:
    """`[frames, 33, 3]` poses of a stick person: every landmark spread over a box
    `0.4 * height` wide centred on `cx`, from `top` down `height` pixels."""
    rng = np.random.default_rng(0)
    kp = np.ones((frames, NUM_LANDMARKS, 3), np.float32)
    kp[..., 0] = cx + rng.uniform(-0.2, 0.2, (frames, NUM_LANDMARKS)) * height
    kp[..., 1] = top + rng.uniform(0, 1, (frames, NUM_LANDMARKS)) * height
    kp[:, 0, 1] = top  # the nose at the top, an ankle at the bottom
    kp[:, LM["left_ankle"], 1] = top + height
    return kp


def contains(window: CropWindow, kp: np.ndarray, margin: float = 0.0) -> bool:
    x, y = kp[..., 0], kp[..., 1]
    return bool((x.min() - margin >= window.x0) & (x.max() + margin <= window.x0 + window.side)
                & (y.min() - margin >= window.y0) & (y.max() + margin <= window.y0 + window.side))


def test_square_crop() -> None:
    assert square_crop(640, 480) == (80, 0, 480)
    assert square_crop(480, 640) == (0, 80, 480)


def test_person_in_a_corner_of_a_room_gets_a_window_inside_the_frame() -> None:
    kp = figure(cx=160, top=60, height=200)  # 640x360, the left third
    w = choose_window(kp, (640, 360))
    assert w.padding((640, 360)) == (0, 0, 0, 0)
    assert contains(w, kp, margin=0.9 * MARGIN * 200)
    # Centred on the person (the frame's left edge allows it here).
    assert abs(w.x0 + w.side / 2 - 160) <= 1
    assert w.side == pytest.approx(200 * (1 + 2 * MARGIN), abs=2)


def test_person_at_the_frame_edge_moves_the_window_inside_not_past_it() -> None:
    kp = figure(cx=50, top=60, height=200)  # arms' reach goes to x = 10
    w = choose_window(kp, (640, 360))
    assert w.x0 == 0 and w.padding((640, 360)) == (0, 0, 0, 0) and contains(w, kp)


def test_tall_person_in_a_portrait_frame_gets_padding_on_both_sides() -> None:
    kp = figure(cx=144, top=40, height=440)  # 288x512: 176 px wide, 440 px tall
    w = choose_window(kp, (288, 512))
    left, top, right, bottom = w.padding((288, 512))
    assert w.side > 288 and contains(w, kp)
    assert top == 0 and bottom == 0 and abs(left - right) <= 1 and left > 50
    # The margin stops at the frame: there are no pixels of the person past it.
    assert w.y0 >= 0 and w.y0 + w.side <= 512


def test_one_stray_detection_does_not_stretch_the_window() -> None:
    kp = figure(cx=320, top=60, height=200, frames=200)
    clean = choose_window(kp, (640, 360))
    kp[17, LM["left_wrist"], :2] = (630, 5)  # one frame, one joint, far off
    assert choose_window(kp, (640, 360)) == clean


def test_joints_outside_the_frame_or_unseen_do_not_place_the_window() -> None:
    kp = figure(cx=320, top=60, height=200)
    kp[:, LM["right_wrist"], :2] = (900, 100)  # outside a 640-wide frame
    kp[:, LM["left_wrist"], 2] = 0.05  # barely visible, far away
    kp[:, LM["left_wrist"], :2] = (5, 5)
    w = choose_window(kp, (640, 360))
    assert w.x0 > 150 and w.x0 + w.side < 500


def test_nobody_in_the_clip_falls_back_to_the_centred_square() -> None:
    kp = np.full((5, NUM_LANDMARKS, 3), np.nan, np.float32)
    assert person_extent(kp, (640, 360)) is None
    assert choose_window(kp, (640, 360)) == CropWindow(140, 0, 360)


def test_cut_window_pads_with_the_fill_and_keeps_pixels_in_place() -> None:
    frame = np.zeros((100, 60, 3), np.uint8)
    frame[...] = (10, 20, 30)
    frame[50, 30] = (255, 255, 255)  # a marker at (x 30, y 50)
    assert border_fill(frame) == (10, 20, 30)
    w = CropWindow(-20, 0, 100)  # 20 px of padding on each side
    assert w.padding((60, 100)) == (20, 0, 20, 0)
    out = cut_window(frame, w, 100, (1, 2, 3))
    assert out.shape == (100, 100, 3)
    assert (out[:, :20] == (1, 2, 3)).all() and (out[:, 80:] == (1, 2, 3)).all()
    assert (out[:, 20:80] == (10, 20, 30)).sum() == 60 * 100 * 3 - 3
    assert tuple(out[50, 50]) == (255, 255, 255)
    # The same point mapped as a pose lands on the same pixel.
    pose = np.zeros((NUM_LANDMARKS, 3), np.float32)
    pose[0] = (30, 50, 1)
    assert w.map_points(pose, 100)[0, :2].tolist() == [50, 50]
    assert w.map_points(pose, 50)[0, :2].tolist() == [25, 25]
    assert w.to_dict((60, 100)) == {"x0": -20, "y0": 0, "side": 100, "padding": {
        "left": 20, "top": 0, "right": 20, "bottom": 0}}


def test_framing_counts_whole_body_and_cut_frames(caplog) -> None:
    kp = figure(cx=320, top=60, height=200, frames=10)
    kp[:, [LM["nose"], *LIMB_JOINTS], 2] = 0.9
    kp[0] = np.nan  # nobody
    kp[1:4, LM["left_ankle"], 1] = 400  # below a 360-high frame: cut
    kp[4, LM["right_wrist"], 2] = 0.1  # there but barely visible: not whole, not cut
    report = framing_report(kp, (640, 360))
    assert report == {"frames": 10, "detected": 9, "whole_body": 5, "cut": 3,
                      "cut_share": round(3 / 9, 4), "cut_joints": {"left_ankle": 3}}
    with caplog.at_level(logging.WARNING, logger="train.framing"):
        assert warn_if_cut("clip.mp4", report)
    assert "clip.mp4: 3 of 9 frames with a person (33%) are cut" in caplog.text
    assert "left_ankle 3" in caplog.text
    kp[2:4, LM["left_ankle"], 1] = 300  # one cut frame of 9: 11% still warns, 0 does not
    assert warn_if_cut("clip.mp4", framing_report(kp, (640, 360)))
    kp[1, LM["left_ankle"], 1] = 300
    assert not warn_if_cut("clip.mp4", framing_report(kp, (640, 360)))
