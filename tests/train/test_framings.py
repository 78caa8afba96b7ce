"""`prepare` on real camera framings: a phone held upright (9:16), a 16:9 room with the
person off centre, feet cut by the frame. The synthetic actor is pasted into larger
canvases of a plain room, and its ground truth moved along."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from dancenow.cli import main
from engine.errors import InputError
from engine.keypoints import LIMB_JOINTS, LM, KeypointTrack
from synth.clip import ClipSpec, synthesize, write_clip
from train.crop import square_crop
from train.data import VERSION, PreparedData, PrepareOptions, prepare

SIZE = 128
BODY = [LM["nose"], *LIMB_JOINTS]
OPTIONS = PrepareOptions(size=SIZE, min_person_frames=10)
WALL = (182, 170, 150)  # the room around the pasted picture: wall...
FLOOR = (120, 104, 88)  # ...and floor, from 70% of the height down

Offset = Callable[[int], tuple[int, int]]


def room(width: int, height: int) -> np.ndarray:
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = WALL
    canvas[int(0.7 * height):] = FLOOR
    return canvas


def paste(canvas: np.ndarray, picture: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """`picture` pasted with its top-left corner at (x0, y0); what falls outside is lost."""
    h, w = canvas.shape[:2]
    ph, pw = picture.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x0 + pw, w), min(y0 + ph, h)
    canvas[cy0:cy1, cx0:cx1] = picture[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    return canvas


def composited(spec: ClipSpec, canvas: tuple[int, int],
               offset: Offset) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    width, height = canvas
    for i, (frame, kp) in enumerate(synthesize(spec)):
        x0, y0 = offset(i)
        moved = kp.copy()
        moved[:, 0] += x0
        moved[:, 1] += y0
        yield paste(room(width, height), frame, x0, y0), moved


def canvas_clip(out: Path, spec: ClipSpec, canvas: tuple[int, int],
                offset: Offset) -> KeypointTrack:
    """The actor's clip pasted into a room of size `canvas` at `offset(frame index)`;
    returns the ground truth in canvas pixels."""
    return write_clip(composited(spec, canvas, offset), spec.frames, out, canvas, spec.fps,
                      progress=False)


def inside(points: np.ndarray, width: float, height: float) -> np.ndarray:
    x, y = points[..., 0], points[..., 1]
    return (x >= 0) & (x <= width) & (y >= 0) & (y <= height)


def kept_rate(track: KeypointTrack, window: tuple[int, int, int]) -> float:
    """Share of the body joints inside the source frame that a square window (x0, y0,
    side) keeps inside the S x S frame."""
    x0, y0, side = window
    gt = track.keypoints[:, BODY, :2]
    in_source = inside(gt, *track.size)
    mapped = (gt - np.array([x0, y0], np.float32)) * (SIZE / side)
    return float(inside(mapped, SIZE, SIZE)[in_source].mean())


def recorded_window(manifest: dict) -> tuple[int, int, int]:
    crop = manifest["sources"][0]["crop"]
    return crop["x0"], crop["y0"], crop["side"]


def _prepared(root: Path, name: str, spec: ClipSpec, canvas: tuple[int, int],
              offset: Offset) -> tuple[Path, KeypointTrack, Path, dict]:
    video = root / f"{name}.mp4"
    track = canvas_clip(video, spec, canvas, offset)
    data = root / f"{name}-data"
    return video, track, data, prepare([video], data, OPTIONS, progress=False)


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeypointTrack, Path,
                                                                 dict]:
    """9:16 (288x512), the person filling about three quarters of the height."""
    spec = ClipSpec(actor="target", motion="dance", seconds=1.5, size=480, fps=15, seed=5)
    return _prepared(tmp_path_factory.mktemp("portrait"), "portrait", spec, (288, 512),
                     lambda i: (-96, 16))


@pytest.fixture(scope="module")
def off_centre(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, KeypointTrack, Path,
                                                                   dict]:
    """16:9 (640x360), the person in the left third."""
    spec = ClipSpec(actor="target", motion="dance", seconds=1.5, size=320, fps=15, seed=5)
    return _prepared(tmp_path_factory.mktemp("offcentre"), "offcentre", spec, (640, 360),
                     lambda i: (-53, 20))


def test_portrait_keeps_the_whole_body(portrait) -> None:
    _, track, data, manifest = portrait
    src = manifest["sources"][0]
    assert src["frame_size"] == [288, 512]
    x0, y0, side = recorded_window(manifest)
    assert kept_rate(track, (x0, y0, side)) >= 0.98
    # The person is taller than the frame is wide: the square reaches past both sides.
    pad = src["crop"]["padding"]
    assert side > 288 and pad["left"] > 20 and pad["right"] > 20
    assert pad["left"] + pad["right"] == side - 288 and pad["top"] == pad["bottom"] == 0
    # Today's centred square cuts the head or the feet out of this clip.
    assert kept_rate(track, square_crop(288, 512)) < 0.9
    # The padding is one flat colour (the frame's border colour), in every frame.
    frames = PreparedData(data).frames
    band = frames[:, :, : int(pad["left"] * SIZE / side) - 2].reshape(-1, 3).astype(int)
    assert np.abs(band - np.array(src["fill"])).max() <= 3


def test_off_centre_person_is_kept_where_a_centred_square_loses_them(off_centre) -> None:
    _, track, _, manifest = off_centre
    x0, y0, side = recorded_window(manifest)
    assert kept_rate(track, (x0, y0, side)) >= 0.98
    assert kept_rate(track, square_crop(640, 360)) < 0.5
    # The person fits a square inside the frame: no padding, the window in the left part.
    assert sum(manifest["sources"][0]["crop"]["padding"].values()) == 0
    assert x0 + side / 2 < 640 / 3 + 20


@pytest.mark.parametrize("case", ["portrait", "off_centre"])
def test_prepared_poses_follow_the_window(case, request) -> None:
    """Poses estimated on the whole frame land on the ground truth mapped through the
    window, in the S x S frame."""
    _, track, data, manifest = request.getfixturevalue(case)
    x0, y0, side = recorded_window(manifest)
    prepared = PreparedData(data).keypoints[:, BODY, :2]
    gt = (track.keypoints[:, BODY, :2] - np.array([x0, y0], np.float32)) * (SIZE / side)
    err = np.linalg.norm(prepared - gt, axis=-1)
    assert np.isfinite(err).mean() > 0.9
    assert np.nanmedian(err) < 0.03 * SIZE


def test_manifest_holds_framing_and_coverage(off_centre) -> None:
    _, _, data, manifest = off_centre
    assert manifest["version"] == VERSION == 3
    src = manifest["sources"][0]
    for key in ("frames", "detected", "whole_body", "cut", "cut_share", "cut_joints",
                "frame_size", "crop", "fill"):
        assert key in src
    assert src["frames"] == 22 and src["detected"] == 22
    assert src["whole_body"] + src["cut"] <= src["frames"] and src["whole_body"] >= 15
    cov = manifest["coverage"]
    assert cov["frames"] == 22 and len(cov["limbs"]) == 8
    assert set(cov["poses"]) == {"arms_up", "crouching", "sideways", "leg_lifted"}
    # The dance raises the arms; it never crouches.
    assert cov["poses"]["arms_up"]["frames"] > 0 and cov["poses"]["crouching"]["frames"] == 0
    assert any("crouching" in w for w in cov["warnings"])
    assert not any("above the head" in w for w in cov["warnings"])


def test_cli_prints_framing_and_coverage(off_centre, capsys) -> None:
    video, _, data, manifest = off_centre
    assert main(["-q", "prepare", str(video), "-o", str(data), "--size", str(SIZE),
                 "--min-person-frames", "10"]) == 0  # up to date: only the report
    out = capsys.readouterr().out
    x0, y0, side = recorded_window(manifest)
    assert f"offcentre.mp4: 640x360, crop x0={x0} y0={y0} side={side}" in out
    assert "pose coverage (22 frames" in out and "left upper arm" in out
    assert "no frame crouching" in out


def test_feet_cut_by_the_frame_are_counted_warned_and_dropped(tmp_path, caplog) -> None:
    # Feet inside for the first 8 frames, then the camera tilts up and cuts them off.
    spec = ClipSpec(actor="target", motion="wave", seconds=1.5, size=320, fps=15, seed=5)
    video = tmp_path / "feet.mp4"
    track = canvas_clip(video, spec, (480, 270), lambda i: (80, -30 if i < 8 else 40))
    with caplog.at_level(logging.WARNING, logger="train.framing"):
        manifest = prepare([video], tmp_path / "d", OPTIONS, progress=False)
    src = manifest["sources"][0]
    assert src["cut"] >= 12 and src["cut_share"] > 0.5 and src["whole_body"] <= 10
    assert src["cut_joints"].get("left_ankle", 0) >= 12
    assert any("cut by the video's own frame" in r.getMessage() for r in caplog.records)
    # Ankles that left the source frame are missing in the prepared keypoints.
    kp = PreparedData(tmp_path / "d").keypoints
    ankles = [LM["left_ankle"], LM["right_ankle"]]
    gone = ~inside(track.keypoints[:, ankles, :2], *track.size)
    assert gone.sum() >= 24
    assert np.isnan(kp[:, ankles, 0][gone]).mean() >= 0.9
    assert (kp[:, ankles, 2][gone] == 0).mean() >= 0.9


def test_feet_never_in_the_picture_is_a_clear_error(tmp_path) -> None:
    spec = ClipSpec(actor="target", motion="idle", seconds=1.0, size=320, fps=15, seed=5)
    video = tmp_path / "legs.mp4"
    canvas_clip(video, spec, (480, 270), lambda i: (80, 40))
    with pytest.raises(InputError, match="film the whole body"):
        prepare([video], tmp_path / "d", PrepareOptions(size=SIZE, min_person_frames=5),
                progress=False)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob(".d.*"))


def test_videos_of_one_camera_share_one_window_that_keeps_everyone(tmp_path) -> None:
    """Two 16:9 clips with the person at different places: one window for both (one
    framing for the target), and it still keeps the body joints of each."""
    spec = ClipSpec(actor="target", motion="wave", seconds=1.0, size=320, fps=15, seed=2)
    left = canvas_clip(tmp_path / "left.mp4", spec, (640, 360), lambda i: (-40, 20))
    right = canvas_clip(tmp_path / "right.mp4", spec, (640, 360), lambda i: (260, 20))
    manifest = prepare([tmp_path / "left.mp4", tmp_path / "right.mp4"], tmp_path / "data",
                       OPTIONS, progress=False)
    crops = [src["crop"] for src in manifest["sources"]]
    assert crops[0] == crops[1]
    window = (crops[0]["x0"], crops[0]["y0"], crops[0]["side"])
    assert kept_rate(left, window) >= 0.98 and kept_rate(right, window) >= 0.98
