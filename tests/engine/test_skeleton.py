"""The reference label map drawing (the native kernel is checked against it elsewhere)."""

from __future__ import annotations

import numpy as np

from engine.keypoints import LM, missing_pose
from engine.skeleton import (
    BODY_BONES,
    BONE_COLORS,
    BONES,
    LabelMapStyle,
    fit_square,
    image_to_tensor,
    render_label_image,
    render_label_map_reference,
    tensor_to_image,
    transform_points,
)
from synth.reference import actor_keypoints


def _pose() -> np.ndarray:
    return actor_keypoints("target", 256, seconds=0.2, fps=10)[0]


def test_palette_gives_each_body_bone_its_own_colour() -> None:
    assert len(BONE_COLORS) == len(BONES)
    assert len({tuple(c) for c in BONE_COLORS[: len(BODY_BONES)]}) == len(BODY_BONES)


def test_bones_are_drawn_in_their_colours() -> None:
    pose = _pose()
    img = render_label_image(pose, 256, 256)
    pts = transform_points(pose)
    for (a, b), colour in zip(BONES[:5], BONE_COLORS[:5], strict=True):
        mid = np.round((pts[a] + pts[b]) / 2).astype(int)
        # The bone's own colour at its middle, unless a later bone painted over it.
        got = img[mid[1], mid[0]].astype(int)
        later = [c for c in BONE_COLORS[BONES.index((a, b)) + 1:]]
        assert np.abs(got - colour).max() <= 2 or any(np.abs(got - c).max() <= 40 for c in later)
    assert img.reshape(-1, 3).max(axis=1).astype(bool).mean() < 0.15  # a stick figure on black


def test_missing_joint_draws_none_of_its_bones() -> None:
    pose = _pose()
    full = render_label_image(pose, 256, 256)
    pose[LM["left_elbow"]] = (np.nan, np.nan, 0.0)
    cut = render_label_image(pose, 256, 256)
    removed = (full != cut).any(axis=2)
    assert removed.sum() > 50
    pose2 = _pose()
    pose2[LM["left_elbow"], 2] = 0.05  # below the visibility threshold: same as missing
    np.testing.assert_array_equal(render_label_image(pose2, 256, 256), cut)
    assert not render_label_image(missing_pose(), 64, 64).any()


def test_thickness_scales_with_resolution() -> None:
    small, big = LabelMapStyle.for_size(256), LabelMapStyle.for_size(512)
    assert big.body_radius == 2 * small.body_radius and big.face_radius > big.body_radius / 4
    pose = _pose()
    a = render_label_image(pose, 256, 256).any(axis=2).mean()
    pose2 = pose.copy()
    pose2[:, :2] *= 2
    b = render_label_image(pose2, 512, 512).any(axis=2).mean()
    assert abs(a - b) < 0.25 * a  # the same share of the frame at both sizes


def test_tensor_conversion() -> None:
    img = np.zeros((4, 6, 3), np.uint8)
    img[1, 2] = (255, 0, 128)
    t = image_to_tensor(img)
    assert t.shape == (1, 3, 4, 6) and t.dtype == np.float16
    assert t[0, 0, 0, 0] == -1 and t[0, 0, 1, 2] == 1 and abs(float(t[0, 2, 1, 2])) < 0.01
    np.testing.assert_array_equal(tensor_to_image(t), img)
    ref = render_label_map_reference(_pose(), 128, 96, scale=(0.5, 0.5))
    assert ref.shape == (1, 3, 96, 128)


def test_fit_square() -> None:
    (sx, sy), (ox, oy) = fit_square((640, 480), 240)
    assert sx == sy == 0.5 and ox == -40 and oy == 0
