"""BlazePose on Runners: geometry helpers, and parity with the mediapipe backend."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from engine.errors import InputError
from engine.metrics import pck
from engine.pose import create_estimator, estimator_names
from engine.pose.blazepose import (
    Region,
    crop_matrix,
    decode_detections,
    project,
    refine_with_heatmap,
    region_from_points,
    ssd_anchors,
)
from synth.clip import ClipSpec, synthesize

log = logging.getLogger(__name__)



def test_anchor_layout_matches_the_detector_output() -> None:
    anchors = ssd_anchors()
    assert anchors.shape == (2254, 2)  # 28x28x2 + 14x14x2 + 7x7x6
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_decode_finds_the_scored_anchor_and_merges_its_neighbours() -> None:
    anchors = ssd_anchors()
    raw = np.zeros((2254, 12), np.float32)
    scores = np.full(2254, -10.0, np.float32)
    for i, s in ((100, 4.0), (101, 3.0)):  # two anchors of one cell: one person
        scores[i] = s
        raw[i, 2:4] = 40.0  # 40 px boxes around the anchor
        raw[i, 4:6] = (0.0, 10.0)  # keypoint 0 ten pixels below the centre
    found = decode_detections(raw, scores, anchors, 0.5)
    assert len(found) == 1 and found[0].score == pytest.approx(1 / (1 + math.exp(-4)))
    np.testing.assert_allclose(found[0].box[:2], anchors[100], atol=1e-9)
    np.testing.assert_allclose(found[0].keypoints[0], anchors[100] + [0, 10 / 224], atol=1e-9)
    assert decode_detections(raw, np.full(2254, -10.0), anchors, 0.5) == []


def test_regions_crops_and_projection() -> None:
    upright = region_from_points(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert upright.rotation == pytest.approx(0.0) and upright.side == pytest.approx(200.0)
    leaning = region_from_points(np.array([0.0, 0.0]), np.array([10.0, -10.0]))
    assert leaning.rotation == pytest.approx(math.pi / 4)
    r = Region(120.0, 80.0, 64.0, 0.3)
    centre = project(np.array([[128.0, 128.0]]), r, 256)
    np.testing.assert_allclose(centre[0], [120.0, 80.0])
    m = crop_matrix(r, 256)
    corners = project(np.array([[0.0, 0.0], [256.0, 0.0]]), r, 256)
    assert np.linalg.norm(corners[1] - corners[0]) == pytest.approx(64.0)
    np.testing.assert_allclose(corners[0], m[:, 2])


def test_heatmap_refinement_moves_to_a_confident_peak_only() -> None:
    heat = np.full((64, 64, 2), -10.0, np.float32)
    heat[20, 30, 0] = 10.0  # landmark 0 has a confident peak at col 30, row 20
    pts = np.array([[31.5 * 4, 21.0 * 4], [100.0, 100.0]])
    out = refine_with_heatmap(pts, heat, 256)
    np.testing.assert_allclose(out[0], [30 * 4, 20 * 4], atol=0.5)
    np.testing.assert_array_equal(out[1], pts[1])  # no confidence: left alone


def _refine_one_by_one(points: np.ndarray, heatmap: np.ndarray, size: int) -> np.ndarray:
    """The refinement written landmark by landmark, as mediapipe's calculator does."""
    rows, cols, n = heatmap.shape
    out = points.copy()
    for i in range(min(n, len(points))):
        col, row = int(points[i, 0] / size * cols), int(points[i, 1] / size * rows)
        if not (0 <= col < cols and 0 <= row < rows):
            continue
        r0, r1 = max(0, row - 3), min(rows, row + 4)
        c0, c1 = max(0, col - 3), min(cols, col + 4)
        conf = 1 / (1 + np.exp(-heatmap[r0:r1, c0:c1, i].astype(np.float64)))
        if conf.max() < 0.5 or conf.sum() <= 0:
            continue
        rr, cc = np.mgrid[r0:r1, c0:c1]
        out[i] = [(cc * conf).sum() / conf.sum() / cols * size,
                  (rr * conf).sum() / conf.sum() / rows * size]
    return out


def test_heatmap_refinement_matches_the_one_by_one_reference(rng) -> None:
    for trial in range(20):
        heatmap = rng.normal(-1.0, 2.0, (64, 64, 39)).astype(np.float32)
        points = rng.uniform(-20, 276, (39, 2))  # some outside the crop, some at its edges
        points[:4] = [[0, 0], [255.9, 255.9], [0, 128], [2, 254]]
        np.testing.assert_allclose(refine_with_heatmap(points, heatmap, 256),
                                   _refine_one_by_one(points, heatmap, 256), atol=1e-9,
                                   err_msg=f"trial {trial}")


def test_runner_backends_are_pose_backends(pose_models) -> None:
    names = estimator_names()
    assert names[0] == "mediapipe" and "ort-cpu" in names and "torch" not in names
    with pytest.raises(InputError, match="dancenow pose-models"):
        create_estimator("ort-cpu", models_dir=pose_models / "missing")
    with create_estimator("ort-cpu", video=True, models_dir=pose_models) as est:
        blank = est.estimate(np.full((256, 256, 3), 90, np.uint8))
        assert np.isnan(blank[:, :2]).all() and est.region is None


def _clip(motion: str, seed: int):  # noqa: ANN202
    return list(synthesize(ClipSpec(actor="performer", motion=motion, seconds=3, size=512,
                                    fps=30, seed=seed)))


@pytest.mark.slow
@pytest.mark.parametrize("video", [True, False], ids=["video", "static"])
def test_landmarks_match_mediapipe_within_two_pixels(pose_models, video) -> None:
    """The same BlazePose models, run through ONNX Runtime with our ROI tracking."""
    poses = {"mediapipe": [], "ort-cpu": []}
    truths = []
    for seed, motion in enumerate(("dance", "kick")):
        clip = _clip(motion, seed)
        truths += [kp for _, kp in clip]
        for backend, opts in (("mediapipe", {}), ("ort-cpu", {"models_dir": pose_models})):
            with create_estimator(backend, video=video, **opts) as est:
                poses[backend] += [est.estimate(frame) for frame, _ in clip]
    ref, ours, truth = (np.stack(v) for v in (poses["mediapipe"], poses["ort-cpu"], truths))
    dist = np.linalg.norm(ref[..., :2] - ours[..., :2], axis=-1)
    assert np.isfinite(dist).all()
    pck_ref, pck_ours = pck(ref, truth, 0.1), pck(ours, truth, 0.1)
    log.info("%s: mean %.2f px, p95 %.2f px; PCK@0.1 mediapipe %.4f, ort-cpu %.4f",
             "video" if video else "static", dist.mean(), np.percentile(dist, 95), pck_ref,
             pck_ours)
    assert dist.mean() <= 2.0
    assert abs(pck_ours - pck_ref) <= 0.01
    assert pck(ours, truth, 0.2) >= 0.97


def test_openvino_pose_matches_onnx_runtime(pose_models) -> None:
    """`ov-cpu` (bfloat16 where the CPU has it) finds the landmarks ONNX Runtime's float32
    finds, to within a small fraction of the body's height."""
    pytest.importorskip("openvino")
    clip = list(synthesize(ClipSpec(actor="performer", motion="dance", seconds=1.5, size=384,
                                    fps=30, seed=41)))
    poses = {}
    for backend in ("ort-cpu", "ov-cpu"):
        with create_estimator(backend, video=True, models_dir=pose_models, threads=1) as est:
            assert est.backend == backend
            poses[backend] = np.stack([est.estimate(frame) for frame, _ in clip])
    truth = np.stack([kp for _, kp in clip])
    height = np.ptp(truth[..., 1], axis=1)[:, None]
    seen = poses["ort-cpu"][..., 2] > 0.5
    assert seen.mean() > 0.8
    dist = np.linalg.norm(poses["ov-cpu"][..., :2] - poses["ort-cpu"][..., :2], axis=-1) / height
    log.info("ov-cpu vs ort-cpu: mean %.4f, p95 %.4f of height", dist[seen].mean(),
             np.percentile(dist[seen], 95))
    assert dist[seen].mean() < 0.01 and np.percentile(dist[seen], 95) < 0.03
