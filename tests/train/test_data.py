"""Preparing a target video into a data folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import InputError
from engine.video import Mp4Writer
from train.crop import CropWindow
from train.data import PreparedData, PrepareOptions, crop_windows_of, prepare, read_manifest


def test_prepared_folder_holds_everything(tiny_data) -> None:
    data = PreparedData(tiny_data)
    m = data.manifest
    n = len(data)
    assert n == 60 and m["size"] == 64
    assert data.frames.shape == (n, 64, 64, 3) and data.labels.shape == (n, 64, 64, 3)
    assert data.keypoints.shape == (n, 33, 3)
    assert data.detected.all() and m["counts"]["detected"] == n
    # The last 10% of the video is held out, in time order.
    assert data.split.tolist() == [0] * 54 + [1] * 6
    assert data.indices("val").tolist() == list(range(54, 60))
    # Keypoints are in the 64-pixel frame; label maps show a figure; face boxes fit.
    assert np.nanmax(data.keypoints[..., :2]) < 64 and data.labels.max() > 200
    boxes = data.face_boxes
    assert (boxes[:, 2] >= 8).all() and (boxes[:, 0] + boxes[:, 2] <= 64).all()
    stats = m["normalization"]
    assert stats["far"] <= stats["close"] and stats["height_close"] > 0


def test_face_box_follows_the_head(tiny_data) -> None:
    data = PreparedData(tiny_data)
    from engine.keypoints import LM

    for i in range(0, len(data), 7):
        x0, y0, side = data.face_boxes[i]
        nx, ny = data.keypoints[i, LM["nose"], :2]
        assert x0 <= nx <= x0 + side and y0 <= ny <= y0 + side
        # Shoulders are below the box's middle: the box is the head, not the body.
        sy = data.keypoints[i, LM["left_shoulder"], 1]
        assert sy > y0 + side / 2


def test_pairs_stay_inside_one_video_and_split(tiny_data) -> None:
    data = PreparedData(tiny_data)
    pairs = data.pair_indices("train")
    assert len(pairs) == 53 and (data.split[pairs + 1] == 0).all()


def test_preparing_again_is_idempotent(tiny_data, target_video) -> None:
    before = (tiny_data / "manifest.json").stat().st_mtime_ns
    prepare([target_video], tiny_data, PrepareOptions(size=64, min_person_frames=10),
            progress=False)
    assert (tiny_data / "manifest.json").stat().st_mtime_ns == before


def test_changed_options_rebuild(tmp_path, target_video) -> None:
    out = tmp_path / "d"
    prepare([target_video], out, PrepareOptions(size=64, max_frames=20, min_person_frames=5),
            progress=False)
    assert read_manifest(out)["frames"] == 20
    prepare([target_video], out, PrepareOptions(size=64, max_frames=30, min_person_frames=5),
            progress=False)
    assert read_manifest(out)["frames"] == 30 and PreparedData(out).frames.shape[0] == 30
    assert not list(tmp_path.glob(".d.*"))  # no temporary folders left


def test_pairs_never_cross_from_one_video_to_the_next(tmp_path, target_video) -> None:
    out = tmp_path / "two"
    prepare([target_video, target_video], out,
            PrepareOptions(size=64, max_frames=10, min_person_frames=5), progress=False)
    data = PreparedData(out)
    assert len(data) == 20 and data.video.tolist() == [0] * 10 + [1] * 10
    assert data.split.tolist() == ([0] * 9 + [1]) * 2  # the end of each video is held out
    pairs = data.pair_indices("train").tolist()
    assert pairs == list(range(8)) + list(range(10, 18))


def test_an_existing_folder_that_is_not_data_is_never_replaced(tmp_path, target_video) -> None:
    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "a.jpg").write_bytes(b"keep me")
    with pytest.raises(InputError, match="not a data folder"):
        prepare([target_video], precious, PrepareOptions(size=64), progress=False)
    assert (precious / "a.jpg").read_bytes() == b"keep me"


def test_too_few_person_frames_is_a_clear_error(tmp_path) -> None:
    video = tmp_path / "empty.mp4"
    with Mp4Writer(video, 128, 96, 10) as w:
        for i in range(12):
            w.write(np.full((96, 128, 3), 90 + i, np.uint8))
    with pytest.raises(InputError, match=r"only 0 of 12 frames contain a person"):
        prepare([video], tmp_path / "d", PrepareOptions(size=64), progress=False)
    assert not (tmp_path / "d").exists()


def test_bad_inputs(tmp_path) -> None:
    with pytest.raises(InputError, match="not found"):
        prepare([tmp_path / "none.mp4"], tmp_path / "d", progress=False)
    with pytest.raises(InputError, match="multiple of 16"):
        prepare([tmp_path / "none.mp4"], tmp_path / "d", PrepareOptions(size=100))
    with pytest.raises(InputError, match="not a prepared data folder"):
        PreparedData(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(InputError, match="not a dancenow data manifest"):
        PreparedData(tmp_path)


def test_manifest_records_the_window_framing_and_coverage(tiny_data) -> None:
    m = read_manifest(tiny_data)
    src = m["sources"][0]
    assert src["frame_size"] == [256, 256] and src["frames"] == 60
    crop = src["crop"]
    # The dancer's reach nearly fills the square frame: the window holds all of it.
    assert crop["side"] >= 200 and crop["x0"] <= 40 and crop["y0"] <= 40
    assert src["whole_body"] >= 50 and src["cut"] <= 3
    assert m["coverage"]["frames"] == 60 and isinstance(m["coverage"]["warnings"], list)


def test_held_out_footage_is_cut_through_the_training_window(tmp_path, target_video) -> None:
    options = PrepareOptions(size=64, max_frames=20, min_person_frames=5)
    free, fixed = tmp_path / "free", tmp_path / "fixed"
    prepare([target_video], free, options, progress=False)
    trained = crop_windows_of(read_manifest(free))
    own = trained[(256, 256)]
    given = {(256, 256): CropWindow(own.x0 + 24, own.y0 - 10, own.side - 40),
             (640, 480): CropWindow(0, 0, 480)}  # a size the clip does not have: unused
    prepare([target_video], fixed, options, progress=False, windows=given)
    crop = read_manifest(fixed)["sources"][0]["crop"]
    assert (crop["x0"], crop["y0"], crop["side"]) == (own.x0 + 24, own.y0 - 10, own.side - 40)
    # the same person, framed by the given window: shifted and larger than in its own
    a, b = PreparedData(free).keypoints, PreparedData(fixed).keypoints
    seen = ~np.isnan(a[..., 0]) & ~np.isnan(b[..., 0])
    expect_x = ((a[..., 0] * own.side / 64 + own.x0) - (own.x0 + 24)) * 64 / (own.side - 40)
    assert np.median(np.abs(b[..., 0] - expect_x)[seen]) < 1.0
    assert np.std(b[..., 1][seen]) > np.std(a[..., 1][seen]) * 1.1
    # another window is another data folder: it is rebuilt, not taken as up to date
    before = (fixed / "manifest.json").stat().st_mtime_ns
    prepare([target_video], fixed, options, progress=False, windows=trained)
    assert (fixed / "manifest.json").stat().st_mtime_ns != before
    assert crop_windows_of(read_manifest(fixed)) == trained
