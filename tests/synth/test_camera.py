"""Clips as real cameras film them: sizes, framings, placement, a second actor, and
ground truth that marks the joints outside the frame."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from engine.keypoints import LM, KeypointTrack, keypoints_path_for
from synth.appearance import get_actor
from synth.clip import ClipSpec, clip_keypoints, synth_clip, synthesize, synthesize_scene
from synth.motions import MOTIONS

SIZES = [(640, 360), (1920, 1080), (640, 480), (1280, 960), (360, 640), (1080, 1920)]
HIPS = [LM["left_hip"], LM["right_hip"]]
KNEES_ANKLES = [LM[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
HEAD_SHOULDERS = [LM[n] for n in ("nose", "left_shoulder", "right_shoulder")]


def _inside(kp: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    x, y = kp[..., 0], kp[..., 1]
    return (x >= 0) & (x <= size[0]) & (y >= 0) & (y <= size[1])


@pytest.mark.parametrize("framing", ["full", "desk", "zoom"])
@pytest.mark.parametrize("size", SIZES)
def test_frames_have_the_asked_size(framing, size) -> None:
    spec = ClipSpec(motion="wave", seconds=0.1, fps=10, width=size[0], height=size[1],
                    framing=framing)
    (frame, kp), = list(synthesize(spec))
    assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8
    assert kp.shape == (33, 3)


def test_default_sizes_and_bad_sizes() -> None:
    assert ClipSpec().frame_size == (512, 512)
    assert ClipSpec(size=256).frame_size == (256, 256)
    assert ClipSpec(framing="desk").frame_size == (910, 512)
    assert ClipSpec(framing="zoom", width=1280).frame_size == (1280, 720)
    assert ClipSpec(framing="desk", height=360).frame_size == (640, 360)
    assert ClipSpec(height=480).frame_size == (480, 480)
    for bad in (dict(width=641, height=360), dict(width=640, height=361),
                dict(width=32, height=32), dict(width=5000, height=2000)):
        with pytest.raises(InputError, match="even numbers of pixels"):
            ClipSpec(**bad).validate()
    with pytest.raises(InputError, match="--size"):
        ClipSpec(size=511).validate()
    with pytest.raises(InputError, match="--place-x"):
        ClipSpec(place_x=1.5).validate()
    with pytest.raises(InputError, match="unknown framing"):
        ClipSpec(framing="wide").validate()
    with pytest.raises(InputError, match="another actor"):
        ClipSpec(actor="target", second_actor="target").validate()
    with pytest.raises(InputError, match="unknown motion"):
        ClipSpec(second_actor="target", second_motion="moonwalk").validate()


@pytest.mark.parametrize("framing,size,place_x", [
    ("full", (640, 360), 0.05), ("desk", (640, 360), 0.5), ("desk", (480, 640), 0.15),
    ("zoom", (640, 480), 0.9)])
def test_visibility_marks_the_joints_outside_the_frame(framing, size, place_x) -> None:
    spec = ClipSpec(motion="dance", seconds=4, fps=10, width=size[0], height=size[1],
                    framing=framing, place_x=place_x, second_actor="target")
    kp = clip_keypoints(spec)
    inside = _inside(kp, size)
    np.testing.assert_array_equal(kp[..., 2], inside.astype(np.float32))
    assert inside.any() and (~inside).any()
    assert np.isfinite(kp[..., :2]).all()  # coordinates are kept


@pytest.mark.parametrize("size", [(1280, 720), (640, 480)])
@pytest.mark.parametrize("actor", ["performer", "target"])
@pytest.mark.parametrize("motion", ["idle", "wave", "dance"])
def test_desk_shows_head_to_hips(size, actor, motion) -> None:
    spec = ClipSpec(actor=actor, motion=motion, seconds=6, fps=10, width=size[0],
                    height=size[1], framing="desk")
    kp = clip_keypoints(spec)[:, 0]
    height = size[1]
    assert (kp[:, HEAD_SHOULDERS, 2] == 1).all()
    assert (kp[:, KNEES_ANKLES, 2] == 0).all() and (kp[:, KNEES_ANKLES, 1] > height).all()
    hips = kp[:, HIPS, 1]
    assert (hips > 0.75 * height).all() and (hips < 1.05 * height).all()


@pytest.mark.parametrize("size", [(640, 360), (512, 512), (480, 640), (360, 640)])
def test_full_framing_shows_the_whole_body_in_any_aspect(size) -> None:
    for motion in MOTIONS:
        kp = clip_keypoints(ClipSpec(actor="target", motion=motion, seconds=8, fps=5,
                                     width=size[0], height=size[1]))
        assert (kp[..., 2] == 1).all(), motion
    # In a portrait frame the body still stands at the usual share of the width.
    kp = clip_keypoints(ClipSpec(motion="idle", seconds=1, fps=5, width=360, height=640))[:, 0]
    tall = kp[:, LM["left_ankle"], 1] - kp[:, LM["nose"], 1]
    assert (tall > 0.45 * 360).all()


def test_zoom_is_smooth_and_reaches_whole_body_and_desk() -> None:
    size = (640, 360)
    spec = ClipSpec(motion="idle", seconds=14, fps=30, width=size[0], height=size[1],
                    framing="zoom")
    kp = clip_keypoints(spec)[:, 0]
    hips = kp[:, HIPS, :2].mean(axis=1)
    step = np.linalg.norm(np.diff(hips, axis=0), axis=1)
    assert step.max() < 0.025 * size[1], "the hips jump between frames"
    assert np.linalg.norm(np.diff(hips, 2, axis=0), axis=1).max() < 0.004 * size[1]
    assert np.ptp(hips[:, 1]) > 0.3 * size[1]  # and they do travel with the zoom
    whole = (kp[..., 2] == 1).all(axis=1)
    desk = ((kp[:, KNEES_ANKLES, 2] == 0).all(axis=1) & (kp[:, HEAD_SHOULDERS, 2] == 1).all(axis=1)
            & (kp[:, HIPS, 1] > 0.75 * size[1]).all(axis=1))
    assert whole[:60].all() and whole.sum() > 100 and desk.sum() > 100
    assert desk[int(4.5 * 30)] and whole[int(7.5 * 30)]  # the second cycle starts wide again


@pytest.mark.parametrize("framing", ["full", "desk", "zoom"])
def test_place_x_moves_the_actor(framing) -> None:
    size = (1280, 720)
    xs = []
    for place_x in (0.2, 0.5, 0.8):
        kp = clip_keypoints(ClipSpec(motion="idle", seconds=3, fps=5, width=size[0],
                                     height=size[1], framing=framing, place_x=place_x))[:, 0]
        root = kp[:, HIPS, 0].mean(axis=1)
        assert np.abs(root - place_x * size[0]).max() < 0.04 * size[0]
        xs.append(root.mean())
    assert xs[0] < xs[1] < xs[2]


def _chest(kp: np.ndarray) -> np.ndarray:
    shoulders = kp[[LM["left_shoulder"], LM["right_shoulder"]], :2].mean(axis=0)
    hips = kp[HIPS, :2].mean(axis=0)
    return shoulders + 0.35 * (hips - shoulders)


def _distance_to_segment(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    t = np.clip(np.dot(c - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return float(np.linalg.norm(c - (a + t * (b - a))))


@pytest.mark.parametrize("actor,framing,seconds", [
    ("performer", "desk", 0.5), ("target", "full", 0.5), ("performer", "zoom", 2.8)])
def test_actor_is_drawn_where_its_keypoints_are(actor, framing, seconds) -> None:
    app = get_actor(actor)
    spec = ClipSpec(actor=actor, motion="idle", seconds=seconds, fps=10, width=960,
                    height=540, framing=framing, place_x=0.3)
    frame, kp = list(synthesize(spec))[-1]
    x, y = _chest(kp).round().astype(int)
    # The shirt there: its colour, its pattern's colour or a blend of the two.
    shirt, pattern = np.array(app.shirt, float), np.array(app.pattern_color, float)
    patch = frame[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(float)
    assert max(_distance_to_segment(c, shirt, pattern) for c in patch) < 25
    # And the skin of the chin, below the mouth.
    eyes = (kp[LM["left_eye"], :2] + kp[LM["right_eye"], :2]) / 2
    mouth = (kp[LM["mouth_left"], :2] + kp[LM["mouth_right"], :2]) / 2
    fx, fy = (mouth + 0.35 * (mouth - eyes)).round().astype(int)
    assert np.abs(frame[fy, fx].astype(float) - app.skin).max() < 40


def test_second_actor_is_drawn_behind_and_written(tmp_path) -> None:
    base = dict(actor="performer", motion="dance", seconds=0.6, fps=5, width=640, height=360,
                seed=2)
    alone = list(synthesize_scene(ClipSpec(**base)))
    duo = list(synthesize_scene(ClipSpec(**base, second_actor="target")))
    frame, kps = duo[-1]
    assert kps.shape == (2, 33, 3)
    np.testing.assert_array_equal(kps[0], alone[-1][1][0])  # the main truth is unchanged
    # The second actor stands 0.3 of the width to the right, smaller (farther back).
    second_root = kps[1, HIPS, 0].mean()
    assert abs(second_root - 0.8 * 640) < 0.05 * 640
    size = lambda k: k[LM["left_ankle"], 1] - k[LM["nose"], 1]  # noqa: E731
    assert size(kps[1]) < 0.85 * size(kps[0])
    x, y = _chest(kps[1]).round().astype(int)
    diff = np.abs(frame.astype(int) - alone[-1][0]).sum(axis=2)
    assert diff[y - 3 : y + 4, x - 3 : x + 4].min() > 30
    assert diff[:, :200].max() == 0  # nothing else changes
    # Standing on the same spot, farther back: the main actor covers it.
    same = list(synthesize_scene(ClipSpec(**base, second_actor="target",
                                          second_place_x=0.5)))[-1]
    x, y = _chest(same[1][0]).round().astype(int)
    np.testing.assert_array_equal(same[0][y - 2 : y + 3, x - 2 : x + 3],
                                  alone[-1][0][y - 2 : y + 3, x - 2 : x + 3])
    # The clip writes both ground truths.
    out = tmp_path / "clip.mp4"
    track = synth_clip(ClipSpec(**base, second_actor="target"), out, progress=False)
    second = KeypointTrack.load(keypoints_path_for(out, "second"))
    assert keypoints_path_for(out, "second").name == "clip.second.kp.npz"
    assert len(second) == len(track) == 3 and second.size == track.size == (640, 360)
    np.testing.assert_allclose(second.keypoints, np.stack([k[1] for _, k in duo]))
    np.testing.assert_allclose(track.keypoints, np.stack([k[0] for _, k in duo]))


def test_single_actor_clip_writes_no_second_file(tmp_path) -> None:
    out = tmp_path / "clip.mp4"
    synth_clip(ClipSpec(seconds=0.2, fps=5, width=320, height=180, framing="desk"), out,
               progress=False)
    track = KeypointTrack.load(keypoints_path_for(out))
    assert track.size == (320, 180) and (track.keypoints[:, KNEES_ANKLES, 2] == 0).all()
    assert not keypoints_path_for(out, "second").exists()
