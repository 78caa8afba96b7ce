"""The fused native label-map kernel (`engine._native`) against the OpenCV reference.

The two rasterizers cannot agree bit for bit at the anti-aliased edges (OpenCV blends in
uint8 with its own polygon-and-circle edge filter), so agreement is judged by three
numbers, with limits set from measurement over many synthetic poses (measured maxima in
brackets) and checked below to reject real faults (a one-pixel shift, swapped colour
channels, a transposed or HWC layout, a dropped bone):

* the mean absolute difference over the whole tensor;
* the fraction of figure pixels (non-black in either) off by more than AA_TOLERANCE;
* "blobs": pixels off by more than AA_TOLERANCE that survive a 3x3 erosion. Edge
  disagreements are lines about a pixel thick and erode away; a missing or misplaced
  piece of a bone does not.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from engine import _native
from engine.keypoints import LM, missing_pose
from engine.skeleton import (
    BONES,
    MIDPOINTS,
    LabelMapStyle,
    _native_radii,
    _native_tables,
    render_label_map,
    render_label_map_reference,
)
from synth.appearance import get_actor
from synth.body import Camera
from synth.clip import ClipSpec, pose_at
from synth.motions import Tempo

AA_TOLERANCE = 0.25  # a difference of 32 uint8 levels on the [-1, 1] scale
# size -> (mean abs diff limit, bad figure-pixel fraction limit); measured maxima:
# 128: 0.0033 / 0.069, 256: 0.0013 / 0.036, 512: 0.0006 / 0.021.
LIMITS: dict[int, tuple[float, float]] = {128: (0.005, 0.10), 256: (0.0025, 0.05),
                                          512: (0.0012, 0.03)}
MAX_BLOB_PIXELS = 2  # measured: 0 on every pose

CLIPS = (
    ClipSpec(actor="performer", motion="dance", seed=0),
    ClipSpec(actor="target", motion="kick", seed=3),
    ClipSpec(actor="performer", motion="wave", seed=5),
    ClipSpec(actor="target", motion="turn", seed=1),
    ClipSpec(actor="performer", motion="approach", seed=2),
    ClipSpec(actor="target", motion="squat", seed=4),
)


def clip_poses(spec: ClipSpec, size: int, count: int) -> list[np.ndarray]:
    """`count` poses `[33, 3]` spread over the clip, projected for a `size` square frame."""
    app, cam, tempo = get_actor(spec.actor), Camera.for_size(size, size), Tempo.from_seed(spec.seed)
    times = np.linspace(0.0, spec.seconds, count, endpoint=False)
    return [pose_at(app, cam, spec.motion, tempo, float(t))[0] for t in times]


def agreement(native: np.ndarray, reference: np.ndarray) -> tuple[float, float, int]:
    """(mean abs difference, bad fraction of figure pixels, blob pixels) of two tensors."""
    a, b = native.astype(np.float32), reference.astype(np.float32)
    diff = np.abs(a - b)
    figure = ((a > -0.999) | (b > -0.999)).any(axis=(0, 1))
    bad = (diff > AA_TOLERANCE).any(axis=(0, 1))
    blobs = cv2.erode(bad.astype(np.uint8), np.ones((3, 3), np.uint8))
    return float(diff.mean()), float(bad[figure].mean()), int(blobs.sum())


def agrees(native: np.ndarray, reference: np.ndarray, size: int) -> bool:
    mean_abs, bad, blobs = agreement(native, reference)
    max_mean, max_bad = LIMITS[size]
    return mean_abs <= max_mean and bad <= max_bad and blobs <= MAX_BLOB_PIXELS


def assert_agrees(native: np.ndarray, reference: np.ndarray, size: int) -> None:
    mean_abs, bad, blobs = agreement(native, reference)
    max_mean, max_bad = LIMITS[size]
    assert mean_abs <= max_mean, f"mean abs difference {mean_abs:.5f} > {max_mean}"
    assert bad <= max_bad, f"{bad:.2%} of figure pixels differ by > {AA_TOLERANCE}"
    assert blobs <= MAX_BLOB_PIXELS, f"{blobs} pixels of solid disagreement"


def native_without(kp: np.ndarray, size: int, dropped: set[int]) -> np.ndarray:
    """The native label map drawn with the bones at indices `dropped` left out of the table."""
    style = LabelMapStyle.for_size(size)
    bones, colors, mids = _native_tables()
    keep = np.array([i not in dropped for i in range(len(BONES))])
    out = np.empty((1, 3, size, size), np.float16)
    _native.render_label_map(np.ascontiguousarray(kp, np.float32), out,
                             np.ascontiguousarray(bones[keep]), np.ascontiguousarray(colors[keep]),
                             np.ascontiguousarray(_native_radii(style)[keep]), mids,
                             1.0, 1.0, 0.0, 0.0, style.min_visibility)
    return out


def bones_touching(joint: int) -> set[int]:
    """Indices of the bones that need `joint`, directly or through a midpoint."""
    points = {joint} | {33 + i for i, pair in enumerate(MIDPOINTS) if joint in pair}
    return {i for i, (a, b) in enumerate(BONES) if a in points or b in points}


@pytest.mark.parametrize("size", [256, 512])
@pytest.mark.parametrize("spec", CLIPS, ids=lambda s: f"{s.actor}-{s.motion}")
def test_native_matches_reference(spec: ClipSpec, size: int) -> None:
    for kp in clip_poses(spec, size, 4):
        native = render_label_map(kp, size, size)
        assert native.dtype == np.float16 and native.shape == (1, 3, size, size)
        assert_agrees(native, render_label_map_reference(kp, size, size), size)


def test_native_matches_reference_with_thin_lines() -> None:
    # At 128 the face lines are OpenCV's 1-pixel thin lines, a separate shape.
    for spec in CLIPS[:3]:
        for kp in clip_poses(spec, 128, 3):
            assert_agrees(render_label_map(kp, 128, 128),
                          render_label_map_reference(kp, 128, 128), 128)


@pytest.mark.parametrize(("width", "height", "scale", "offset"), [
    (512, 512, (2.0, 2.0), (0.0, 0.0)),       # poses for a 256 frame drawn at 512
    (384, 256, (1.0, 1.0), (64.0, 0.0)),      # letterboxed into a wider frame
    (256, 512, (1.0, 2.0), (0.0, -3.5)),      # anisotropic, fractional offset
    (256, 256, (1.0, 1.0), (-90.0, 70.25)),   # cut by the left and bottom borders
])
def test_native_matches_reference_with_scale_and_offset(
        width: int, height: int, scale: tuple[float, float], offset: tuple[float, float]) -> None:
    size = min(width, height)
    for spec in CLIPS[:3]:
        for kp in clip_poses(spec, 256, 3):
            native = render_label_map(kp, width, height, scale, offset)
            reference = render_label_map_reference(kp, width, height, scale, offset)
            assert native.shape == (1, 3, height, width)
            assert_agrees(native, reference, 256 if size < 512 else 512)


@pytest.mark.parametrize("size", [256, 512])
def test_agreement_check_rejects_real_faults(size: int) -> None:
    kp = clip_poses(CLIPS[0], size, 3)[1]
    native, reference = render_label_map(kp, size, size), render_label_map_reference(kp, size, size)
    assert agrees(native, reference, size)
    faults = {
        "shifted right": np.roll(native, 1, axis=3),
        "shifted down": np.roll(native, 1, axis=2),
        "red and blue swapped": native[:, ::-1],
        "transposed": native.transpose(0, 1, 3, 2),
        "HWC read as CHW": native.reshape(1, size, size, 3).transpose(0, 3, 1, 2),
        "no right forearm": native_without(kp, size, {BONES.index((LM["right_elbow"],
                                                                   LM["right_wrist"]))}),
        "no mouth": native_without(kp, size, {BONES.index((LM["mouth_right"], LM["mouth_left"]))}),
    }
    for name, faulty in faults.items():
        assert not agrees(faulty, reference, size), f"{name} passed the agreement check"


def test_far_away_joints_are_clipped() -> None:
    kp = clip_poses(CLIPS[2], 256, 2)[1]
    elbow = kp[LM["left_elbow"], :2]
    kp[LM["right_ankle"], :2] = (128.0, 1e6)
    kp[LM["left_wrist"], :2] = elbow + np.array([1e6, -1e5], np.float32)
    native = render_label_map(kp, 256, 256)
    assert np.isfinite(native).all()
    assert_agrees(native, render_label_map_reference(kp, 256, 256), 256)
    # Past 1e7 px OpenCV's fixed-point coordinates overflow; the kernel's bones still cross
    # the frame in the same directions.
    far, farther = kp.copy(), kp.copy()
    far[LM["left_wrist"], :2] = elbow + np.array([1e9, -1e8], np.float32)
    farther[LM["left_wrist"], :2] = elbow + np.array([1e20, -1e19], np.float32)
    far_map = render_label_map(far, 256, 256).astype(np.float32)
    assert np.abs(far_map - native).max() < 0.1  # the hand bones turn a little
    assert np.abs(render_label_map(farther, 256, 256) - far_map).max() < 0.01


def test_all_missing_pose_is_all_black() -> None:
    native = render_label_map(missing_pose(), 96, 64)
    assert native.shape == (1, 3, 64, 96) and (native == -1).all()
    assert (render_label_map_reference(missing_pose(), 96, 64) == -1).all()


@pytest.mark.parametrize("joint", ["left_elbow", "right_knee", "left_shoulder", "nose"])
def test_missing_joint_draws_none_of_its_bones(joint: str) -> None:
    kp = clip_poses(CLIPS[0], 256, 2)[1]
    full = render_label_map(kp, 256, 256)
    cut_kp = kp.copy()
    cut_kp[LM[joint]] = (np.nan, np.nan, 0.0)
    cut = render_label_map(cut_kp, 256, 256)
    # Exactly the picture of the full pose drawn without the joint's bones.
    np.testing.assert_array_equal(cut, native_without(kp, 256, bones_touching(LM[joint])))
    assert (cut != full).any(axis=(0, 1)).sum() > 20
    reference = render_label_map_reference(cut_kp, 256, 256)
    assert_agrees(cut, reference, 256)
    # The reference lost the same bones: where the native no longer draws, it is black too.
    gone = (cut == -1).all(axis=(0, 1)) & (full != -1).any(axis=(0, 1))
    assert gone.sum() > 20 and (reference[0][:, gone] == -1).mean() > 0.95


def test_low_visibility_counts_as_missing() -> None:
    kp = clip_poses(CLIPS[1], 256, 2)[1]
    nan_kp, dim_kp = kp.copy(), kp.copy()
    nan_kp[LM["right_wrist"]] = (np.nan, np.nan, 0.0)
    dim_kp[LM["right_wrist"], 2] = 0.1  # below the default threshold of 0.2
    np.testing.assert_array_equal(render_label_map(dim_kp, 256, 256),
                                  render_label_map(nan_kp, 256, 256))
    np.testing.assert_array_equal(render_label_map_reference(dim_kp, 256, 256),
                                  render_label_map_reference(nan_kp, 256, 256))
    lenient = LabelMapStyle.for_size(256, min_visibility=0.05)
    np.testing.assert_array_equal(render_label_map(dim_kp, 256, 256, style=lenient),
                                  render_label_map(kp, 256, 256, style=lenient))


def test_out_buffer_is_reused_and_fully_overwritten(rng: np.random.Generator) -> None:
    kp = clip_poses(CLIPS[2], 256, 2)[1]
    out = rng.integers(0, 2**16, size=(1, 3, 256, 320), dtype=np.uint16).view(np.float16)
    result = render_label_map(kp, 320, 256, out=out)
    assert result is out
    np.testing.assert_array_equal(out, render_label_map(kp, 320, 256))
    # The same memory as raw uint16 bits, or without the batch axis, gives the same picture.
    bits = np.full((3, 256, 320), 0x7E00, np.uint16)  # NaN everywhere
    bones, colors, mids = _native_tables()
    style = LabelMapStyle.for_size(256)
    _native.render_label_map(kp.astype(np.float32), bits, bones, colors, _native_radii(style),
                             mids, 1.0, 1.0, 0.0, 0.0, style.min_visibility)
    np.testing.assert_array_equal(bits.view(np.float16)[None], out)


def test_one_radius_per_bone_draws_capsules() -> None:
    kp = clip_poses(CLIPS[4], 256, 2)[1].astype(np.float32)
    bones, colors, mids = _native_tables()
    radii = np.linspace(1.0, 6.0, len(BONES), dtype=np.float32)
    table = np.stack([radii, radii, np.zeros_like(radii)], axis=1)
    maps = []
    for r in (radii, radii[:, None], table):
        out = np.empty((1, 3, 256, 256), np.float16)
        _native.render_label_map(kp, out, bones, colors, np.ascontiguousarray(r), mids,
                                 1.0, 1.0, 0.0, 0.0, 0.2)
        maps.append(out)
    np.testing.assert_array_equal(maps[0], maps[2])
    np.testing.assert_array_equal(maps[1], maps[2])


def test_two_keypoint_columns_mean_visible() -> None:
    kp = clip_poses(CLIPS[3], 256, 2)[1]
    np.testing.assert_array_equal(render_label_map(kp[:, :2], 256, 256),
                                  render_label_map(kp, 256, 256))


def test_threads_draw_independently() -> None:
    poses = clip_poses(CLIPS[0], 256, 8)
    expected = [render_label_map(kp, 256, 256) for kp in poses]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda kp: render_label_map(kp, 256, 256), poses))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _native_args() -> dict[str, object]:
    style = LabelMapStyle.for_size(64)
    bones, colors, mids = _native_tables()
    return dict(keypoints=missing_pose(), out=np.empty((1, 3, 64, 64), np.float16), bones=bones,
                colors=colors, radii=_native_radii(style), midpoints=mids, sx=1.0, sy=1.0,
                ox=0.0, oy=0.0, min_visibility=0.2)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("keypoints", missing_pose().astype(np.float64), "keypoints must be float32"),
    ("keypoints", np.zeros(33, np.float32), "keypoints must be float32"),
    ("keypoints", np.zeros((10, 3), np.float32), "midpoints holds index 11"),
    ("keypoints", np.zeros((3, 33), np.float32).T, "C-contiguous"),
    ("out", np.empty((1, 3, 64, 64), np.float32), "out must be float16"),
    ("out", np.empty((1, 4, 64, 64), np.float16), "out must be float16"),
    ("out", np.empty((64, 64), np.float16), "out must be float16"),
    ("out", np.empty((1, 3, 64, 64), np.float16).transpose(0, 1, 3, 2), "C-contiguous"),
    ("out", [[0.0]], "out must be a float16"),
    ("bones", np.zeros((33, 2), np.int64), "bones must be int32"),
    ("bones", np.full((33, 2), 35, np.int32), "bones holds index 35"),
    ("colors", np.zeros((32, 3), np.float32), "colors must be float32"),
    ("radii", np.ones(5, np.float32), "radii must be float32"),
    ("radii", -np.ones(33, np.float32), "radii must be finite"),
    ("midpoints", np.array([[0, 40]], np.int32), "midpoints holds index 40"),
])
def test_native_rejects_bad_arguments(name: str, value: object, message: str) -> None:
    args = _native_args()
    args[name] = value
    with pytest.raises(ValueError, match=message):
        _native.render_label_map(**args)


def test_native_rejects_read_only_out() -> None:
    args = _native_args()
    args["out"].flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _native.render_label_map(**args)


def test_wrapper_rejects_bad_out() -> None:
    kp = missing_pose()
    with pytest.raises(ValueError, match="float16"):
        render_label_map(kp, 64, 64, out=np.empty((1, 3, 64, 64), np.float32))
    with pytest.raises(ValueError, match="float16"):
        render_label_map(kp, 64, 64, out=np.empty((1, 3, 32, 64), np.float16))


def test_half_conversions_match_numpy() -> None:
    # Every binary16 value decodes exactly.
    halves = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    decoded = np.empty(halves.size, np.float32)
    _native._half_bits_to_float(halves, decoded)
    expected = halves.view(np.float16).astype(np.float32)
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(decoded), nan)
    np.testing.assert_array_equal(decoded[~nan].view(np.uint32), expected[~nan].view(np.uint32))
    # Encoding rounds to nearest even: exact halves, the ties between neighbours, their
    # neighbours one float ulp away, overflow, and a sweep of float32 bit patterns.
    finite = expected[~nan & np.isfinite(expected)].astype(np.float64)
    finite = np.unique(finite)
    ties = (finite[:-1] + finite[1:]) / 2
    ties = ties.astype(np.float32)
    floats = np.concatenate([
        finite.astype(np.float32), ties, np.nextafter(ties, np.float32(np.inf)),
        np.nextafter(ties, np.float32(-np.inf)),
        np.array([65504, 65519.99, 65520, 65536, 1e30, np.inf, -np.inf, 2.0**-25, 2.0**-24,
                  3 * 2.0**-26, 2.0**-14, -0.0], np.float32),
        np.arange(0, 2**32, 4099, dtype=np.uint64).astype(np.uint32).view(np.float32),
    ])
    bits = np.empty(floats.size, np.uint16)
    _native._float_to_half_bits(floats, bits)
    with np.errstate(over="ignore"):
        want = floats.astype(np.float16)
    nan = np.isnan(floats)
    assert (bits[nan] & 0x7C00 == 0x7C00).all() and (bits[nan] & 0x03FF != 0).all()
    np.testing.assert_array_equal(bits[~nan], want[~nan].view(np.uint16))
