"""The torch-free renderer: temporal feedback, reset, and the face residual in its box."""

from __future__ import annotations

import numpy as np
import pytest

from engine.avatar import load_bundle
from engine.errors import InputError
from engine.face import crop_resize, paste_residual
from engine.renderer import AvatarRenderer


@pytest.fixture()
def labels(rng):  # noqa: ANN201
    return [rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32) for _ in range(3)]


def test_feedback_and_reset(tiny_bundles, labels) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    with AvatarRenderer(bundle, use_face=False) as r:
        first = r.render(labels[0])
        chained = r.render(labels[1])
        r.reset()
        alone = r.render(labels[1])
        r.reset()
        again = r.render(labels[0])
    np.testing.assert_array_equal(first, again)
    assert np.abs(chained - alone).max() > 1e-4  # the previous frame matters
    assert first.shape == (1, 3, 64, 64) and first.dtype == np.float32
    assert -1.0 <= first.min() and first.max() <= 1.0


def test_face_residual_stays_inside_its_box(tiny_bundles, labels) -> None:
    bundle = load_bundle(tiny_bundles["fp32"])
    box = np.array([20, 10, 24], dtype=np.int32)
    with AvatarRenderer(bundle, use_face=False) as plain, AvatarRenderer(bundle) as face:
        a, b = plain.render(labels[0]), face.render(labels[0], box)
        c = face.render(labels[1], None)  # no face found: no residual
        d = plain.render(labels[1])
    diff = np.abs(a - b).max(axis=1)[0]
    inside = np.zeros_like(diff, dtype=bool)
    inside[10:34, 20:44] = True
    assert diff[inside].max() > 1e-4 and diff[~inside].max() == 0.0
    np.testing.assert_allclose(c, d, atol=1e-6)


def test_face_residual_equals_the_whole_frame_computation(tiny_bundles, labels) -> None:
    """The renderer moves only the box between layouts; the result is what cropping and
    pasting on the whole interleaved frame gives."""
    bundle = load_bundle(tiny_bundles["fp32"])
    box = np.array([30, 5, 20], dtype=np.int32)  # touches no edge; and one at the corner
    corner = np.array([44, 44, 20], dtype=np.int32)
    for b in (box, corner):
        with AvatarRenderer(bundle, use_face=False) as plain, AvatarRenderer(bundle) as face:
            base, got = plain.render(labels[0]), face.render(labels[0], b)
            hwc = lambda t: np.ascontiguousarray(t[0].transpose(1, 2, 0))  # noqa: E731
            image = hwc(base)
            feed = {"label_crop": crop_resize(hwc(labels[0]), b, bundle.face_crop),
                    "image_crop": crop_resize(image, b, bundle.face_crop)}
            feed = {k: np.ascontiguousarray(v.transpose(2, 0, 1)[None]) for k, v in
                    feed.items()}
            residual = face.face.infer(feed)["residual"]
            paste_residual(image, hwc(residual), b)
        np.testing.assert_allclose(got[0], image.transpose(2, 0, 1), atol=1e-6)


def test_wrong_label_shape(tiny_bundles) -> None:
    with AvatarRenderer(load_bundle(tiny_bundles["fp32"])) as r, \
            pytest.raises(InputError, match="shape"):
        r.render(np.zeros((1, 3, 32, 32), np.float32))


def test_generate_then_add_face_is_render(tiny_bundles, labels) -> None:
    """The halves a live pipeline runs on two threads give what `render` gives."""
    bundle = load_bundle(tiny_bundles["fp32"])
    box = np.array([20, 10, 24], dtype=np.int32)
    with AvatarRenderer(bundle) as whole, AvatarRenderer(bundle) as halves:
        for label in labels:
            expected = whole.render(label, box)
            frame = halves.generate(label)
            halves.add_face(label, frame, box)
            np.testing.assert_array_equal(frame, expected)
        halves.add_face(labels[0], frame, np.array([0, 0, 0]))  # no box: nothing
        np.testing.assert_array_equal(frame, expected)
