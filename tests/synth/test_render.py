"""Drawing the actors."""

from __future__ import annotations

import numpy as np

from engine.keypoints import missing_pose
from synth.appearance import ACTORS, get_actor
from synth.body import Camera
from synth.clip import ClipSpec, pose_at, synthesize
from synth.motions import Tempo
from synth.render import render_actor


def _frame(actor: str, t: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    cam = Camera.for_size(256, 256)
    kp, scale = pose_at(ACTORS[actor], cam, "idle", Tempo.from_seed(0), t)
    return render_actor(ACTORS[actor], kp, scale, 256, 256), kp


def test_rendering_is_deterministic() -> None:
    a, _ = _frame("target")
    b, _ = _frame("target")
    np.testing.assert_array_equal(a, b)


def test_actors_look_different() -> None:
    (t, _), (p, _) = _frame("target"), _frame("performer")
    assert np.abs(t.astype(int) - p).mean() > 20
    assert get_actor("target").body != get_actor("performer").body


def test_body_is_drawn_over_its_joints() -> None:
    img, kp = _frame("target")
    empty = render_actor(ACTORS["target"], np.stack([missing_pose()[:, :2]] * 1)[0], 80.0,
                         256, 256)
    changed = np.abs(img.astype(int) - empty).sum(axis=2) > 30
    for x, y in kp[:, :2].astype(int):
        assert changed[max(y - 2, 0) : y + 3, max(x - 2, 0) : x + 3].any()
    assert 0.02 < changed.mean() < 0.4


def test_missing_limbs_are_not_drawn() -> None:
    img, kp = _frame("target")
    app = ACTORS["target"]
    cut = kp.copy()
    from engine.keypoints import LM

    for j in ("left_elbow", "left_wrist", "left_index", "left_pinky", "left_thumb"):
        cut[LM[j], :2] = np.nan
    scale = Camera.for_size(256, 256).scale_at(3.6)
    partial = render_actor(app, cut, scale, 256, 256)
    x, y = kp[LM["left_wrist"], :2].astype(int)
    assert np.abs(img[y - 1 : y + 2, x - 1 : x + 2].astype(int)
                  - partial[y - 1 : y + 2, x - 1 : x + 2]).max() > 30


def test_synthesize_yields_frames_and_truth() -> None:
    spec = ClipSpec(actor="performer", motion="wave", seconds=0.5, size=128, fps=10)
    out = list(synthesize(spec))
    assert len(out) == 5
    frame, kp = out[0]
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8 and kp.shape == (33, 3)
