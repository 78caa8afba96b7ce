"""BlazePose on any Runner: the ONNX-converted detector and landmark models with
BlazePose's region-of-interest tracking, in plain numpy.

Per frame (video mode): if there is no region from the previous frame, the detector
finds the person (letterboxed 224x224 input in [-1, 1], SSD anchors, weighted
non-maximum suppression) and its two alignment keypoints (hip centre and a point
above the head) give a rotated square region; the landmark model then runs on that
region cropped to 256x256 ([0, 1] input), its 39 landmarks are refined with its
heatmap, mapped back to the frame and smoothed (one-euro, scaled by the body's size),
and landmarks 33/34 give the next frame's region. A pose score under the tracking
threshold drops the region and detects again on the same frame. Static mode detects
on every frame and does not smooth.

With several people in view, video mode stays on one performer (`engine.pose.lock`):
the first detection takes the largest and most central person, and every later one
takes the detection that fits where that person was last seen, or nobody; a tracked
region that jumps too far in one frame counts as lost. `relock()` (the page's
Calibrate/reset) chooses again. Static mode takes the most prominent person per frame.

The constants are those of mediapipe's pose graphs (pose_detection_cpu,
pose_landmark_by_roi_cpu, pose_landmark_filtering), so the landmarks match the
`mediapipe` backend's.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from engine.errors import InputError
from engine.filters import smoothing_alpha
from engine.keypoints import NUM_LANDMARKS, missing_pose
from engine.pose.base import PoseEstimator
from engine.pose.lock import LockOptions, PersonLock, most_prominent
from engine.pose.regions import (
    Detection,
    Region,
    crop_matrix,
    detection_region,
    project,
    region_from_points,
)

log = logging.getLogger(__name__)

DETECTOR_FILE = "pose_detection.onnx"
LANDMARK_FILE = "pose_landmark_full.onnx"
DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
# The landmark model's outputs the engine reads (the converter keeps only these): 39 x
# (x, y, z, visibility, presence) in crop pixels, the pose score, 39 heatmaps.
LANDMARK_OUTPUTS = ("landmarks", "pose_flag", "heatmap")
DETECTOR_STRIDES = (8, 16, 32, 32, 32)
DETECTION_KEYPOINTS = 4
MIN_SUPPRESSION_IOU = 0.3
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
FRAME_SECONDS = 1 / 30  # the time step of mediapipe's simulated video clock


def default_models_dir() -> Path:
    """Where converted pose models live: $DANCENOW_POSE_MODELS, else the user cache."""
    env = os.environ.get("DANCENOW_POSE_MODELS")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dancenow" / "pose"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -100.0, 100.0)))


# -- detection -----------------------------------------------------------------------------
def ssd_anchors(size: int = DETECTOR_SIZE, strides: tuple[int, ...] = DETECTOR_STRIDES
                ) -> np.ndarray:
    """`[N, 2]` anchor centres in [0, 1]: two per cell and layer; layers of equal stride
    share one feature map (mediapipe's SsdAnchorsCalculator, fixed anchor size)."""
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = math.ceil(size / strides[i])
        ys, xs = np.mgrid[0:cells, 0:cells]
        grid = np.stack([(xs.ravel() + 0.5) / cells, (ys.ravel() + 0.5) / cells], axis=1)
        centres.append(np.repeat(grid, 2 * (j - i), axis=0))
        i = j
    return np.concatenate(centres).astype(np.float64)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
                      threshold: float) -> list[Detection]:
    """Weighted-NMS detections, best first, from the detector's raw outputs."""
    boxes = raw_boxes.reshape(len(anchors), -1).astype(np.float64) / DETECTOR_SIZE
    scores = sigmoid(raw_scores.reshape(len(anchors)))
    keep = np.flatnonzero(scores >= threshold)
    if keep.size == 0:
        return []
    boxes, scores, anchor = boxes[keep], scores[keep], anchors[keep]
    centre = boxes[:, :2] + anchor
    size = boxes[:, 2:4]
    kps = boxes[:, 4:4 + 2 * DETECTION_KEYPOINTS].reshape(-1, DETECTION_KEYPOINTS, 2)
    kps = kps + anchor[:, None, :]
    rects = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        overlap = _iou(rects[order[0]], rects[order])
        members = order[overlap > MIN_SUPPRESSION_IOU]
        if members.size == 0:
            members = order[:1]
        w = scores[members][:, None]
        total = float(w.sum())
        box = np.concatenate([(centre[members] * w).sum(0), (size[members] * w).sum(0)]) / total
        points = (kps[members] * w[:, :, None]).sum(0) / total
        out.append(Detection(float(scores[order[0]]), box, points))
        order = order[overlap <= MIN_SUPPRESSION_IOU]
    return out


def _iou(rect: np.ndarray, rects: np.ndarray) -> np.ndarray:
    lo = np.maximum(rect[:2], rects[:, :2])
    hi = np.minimum(rect[2:], rects[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda r: np.prod(r[..., 2:] - r[..., :2], axis=-1)  # noqa: E731
    union = area(rect) + area(rects) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def refine_with_heatmap(points: np.ndarray, heatmap: np.ndarray, size: int) -> np.ndarray:
    """Move each landmark (crop pixels) to the confidence-weighted centre of its heatmap
    around it, where the heatmap is confident (mediapipe's RefineLandmarksFromHeatmap).

    All landmarks at once: each one's `HEATMAP_KERNEL`-square window is gathered from the
    `[rows, cols, n]` heatmap, with zero confidence outside the map."""
    rows, cols, n = heatmap.shape
    n = min(n, len(points))
    out = points.copy()
    col = (points[:n, 0] / size * cols).astype(np.int64)
    row = (points[:n, 1] / size * rows).astype(np.int64)
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    offsets = np.arange(HEATMAP_KERNEL) - (HEATMAP_KERNEL - 1) // 2
    rr = row[:, None, None] + offsets[None, :, None]  # [n, k, 1]
    cc = col[:, None, None] + offsets[None, None, :]  # [n, 1, k]
    valid = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)  # [n, k, k]
    window = heatmap[np.clip(rr, 0, rows - 1), np.clip(cc, 0, cols - 1),
                     np.arange(n)[:, None, None]]
    conf = np.where(valid, sigmoid(window), 0.0)
    total = conf.sum(axis=(1, 2))
    use = inside & (conf.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    if use.any():
        safe = np.where(use, total, 1.0)
        out[:n, 0] = np.where(use, (cc * conf).sum(axis=(1, 2)) / safe / cols * size,
                              out[:n, 0])
        out[:n, 1] = np.where(use, (rr * conf).sum(axis=(1, 2)) / safe / rows * size,
                              out[:n, 1])
    return out


# -- smoothing -----------------------------------------------------------------------------
class _ScaledOneEuro:
    """mediapipe's one-euro filter: speed measured relative to the body's size."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, value: np.ndarray, scale: float, dt: float = FRAME_SECONDS
                 ) -> np.ndarray:
        if self._x is None:
            self._x, self._dx = value.copy(), np.zeros_like(value)
            self._raw = value.copy()
            return value
        dvalue = (value - self._raw) * scale / dt
        self._raw = value.copy()
        self._dx = self._dx + smoothing_alpha(self.d_cutoff, dt) * (dvalue - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + smoothing_alpha(cutoff, dt) * (value - self._x)
        return self._x.copy()


def _object_scale(points: np.ndarray) -> float:
    span = points.max(axis=0) - points.min(axis=0)
    return float(span.mean())


# -- the estimator ---------------------------------------------------------------------------
class BlazePoseRunners(PoseEstimator):
    """BlazePose full through two Runners on `backend` (see the module docstring).

    `lock` bounds the person lock (`engine.pose.lock.LockOptions`); `clock` gives the
    seconds those bounds are measured in (default `time.monotonic`, the live case; a
    caller that runs faster or slower than the frames' own time may pass a clock that
    follows the frames).
    """

    def __init__(self, backend: str = "ort-cpu", video: bool = True,
                 models_dir: str | os.PathLike[str] | None = None,
                 min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, lock: LockOptions | None = None,
                 clock: Callable[[], float] | None = None, **runner_options: object) -> None:
        super().__init__(video)
        from engine.runners import create_runner
        from engine.runners.base import model_kind, resolve_backend

        if model_kind(backend) != "onnx":
            raise InputError(f"pose runs on ONNX backends; {backend} runs torch programs")
        folder = Path(models_dir) if models_dir else default_models_dir()
        paths = [folder / DETECTOR_FILE, folder / LANDMARK_FILE]
        if not all(p.is_file() for p in paths):
            raise InputError(f"the BlazePose ONNX models are not in {folder}: convert them "
                             "with `dancenow pose-models`")
        self.backend = backend = resolve_backend(backend)
        self.min_detection = min_detection_confidence
        self.min_tracking = min_tracking_confidence
        self.lock = PersonLock(lock)
        self._clock = clock or time.monotonic
        self._relock_requested = False
        self.detector = create_runner(backend, paths[0], **runner_options).__enter__()
        self.landmarks = create_runner(backend, paths[1], **runner_options).__enter__()
        self._det_input = self.detector.inputs[0]
        self._lm_input = self.landmarks.inputs[0]
        names = {s.name for s in self.landmarks.outputs}
        if not names.issuperset(LANDMARK_OUTPUTS):
            raise InputError(f"{paths[1]} lacks the outputs {', '.join(LANDMARK_OUTPUTS)}: "
                             "convert it again with `dancenow pose-models --force`")
        self.anchors = ssd_anchors()
        self._landmark_filter = _ScaledOneEuro(min_cutoff=0.05, beta=80.0)
        self._aux_filter = _ScaledOneEuro(min_cutoff=0.01, beta=10.0)
        self._visibility: np.ndarray | None = None
        self.region: Region | None = None

    # -- stages --------------------------------------------------------------------------
    def detections(self, frame: np.ndarray) -> list[Detection]:
        """Everyone the detector finds in `frame`, best score first, in frame pixels."""
        h, w = frame.shape[:2]
        scale = DETECTOR_SIZE / max(h, w)
        nw, nh = round(w * scale), round(h * scale)
        ox, oy = (DETECTOR_SIZE - nw) / 2, (DETECTOR_SIZE - nh) / 2
        m = np.array([[scale, 0, ox], [0, scale, oy]], dtype=np.float64)
        letterbox = cv2.warpAffine(frame, m, (DETECTOR_SIZE, DETECTOR_SIZE),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        x = letterbox.astype(np.float32)[None] / 127.5 - 1.0
        out = self.detector.infer({self._det_input.name: x})
        raw_boxes, raw_scores = (out[s.name] for s in self.detector.outputs)
        if raw_boxes.shape[-1] < raw_scores.shape[-1]:
            raw_boxes, raw_scores = raw_scores, raw_boxes
        found = decode_detections(raw_boxes, raw_scores, self.anchors, self.min_detection)
        offset = np.array([ox, oy])
        return [Detection(d.score,
                          np.concatenate([(d.box[:2] * DETECTOR_SIZE - offset) / scale,
                                          d.box[2:] * DETECTOR_SIZE / scale]),
                          (d.keypoints * DETECTOR_SIZE - offset) / scale)
                for d in found]

    def detect(self, frame: np.ndarray, now: float | None = None) -> Region | None:
        """The region of the person to follow, or None: in video mode the person lock's
        choice at time `now` (default: the clock), in static mode the most prominent."""
        found = self.detections(frame)
        size = (frame.shape[1], frame.shape[0])
        if self.video:
            chosen = self.lock.choose(found, size, self._clock() if now is None else now)
        else:
            chosen = most_prominent(found, size, self.lock.options.centre_weight)
        return None if chosen is None else detection_region(chosen)

    def landmarks_in(self, frame: np.ndarray, region: Region) -> tuple[np.ndarray, float]:
        """(`[39, 5]` landmarks: x, y in frame pixels, z, visibility, presence; pose score)."""
        m = crop_matrix(region, LANDMARK_SIZE)
        crop = cv2.warpAffine(frame, m, (LANDMARK_SIZE, LANDMARK_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT)
        x = crop.astype(np.float32)[None] / 255.0
        out = self.landmarks.infer({self._lm_input.name: x})
        raw = out["landmarks"].reshape(-1, 5).astype(np.float64)
        score = float(out["pose_flag"].reshape(-1)[0])
        heatmap = out["heatmap"][0]
        pts = refine_with_heatmap(raw[:, :2], heatmap, LANDMARK_SIZE)
        lms = raw.copy()
        lms[:, :2] = project(pts, region, LANDMARK_SIZE)
        lms[:, 3] = sigmoid(raw[:, 3])
        lms[:, 4] = sigmoid(raw[:, 4])
        return lms, score

    # -- PoseEstimator ---------------------------------------------------------------------
    def estimate(self, frame: np.ndarray) -> np.ndarray:
        frame = self.check_frame(frame)
        if self._relock_requested:
            self._relock_requested = False
            self._lost()
            self.lock.release()
        now = self._clock()
        for attempt in range(2):
            tracking = self.video and self.region is not None
            region = self.region if tracking else self.detect(frame, now)
            if region is None:
                self._lost()
                return missing_pose()
            lms, score = self.landmarks_in(frame, region)
            if score >= self.min_tracking and not (tracking and self._jumped(lms, now)):
                break
            self._lost()
            if attempt == 1 or not self.video:
                return missing_pose()
        else:  # pragma: no cover - the loop always breaks or returns
            return missing_pose()
        body, aux = lms[:NUM_LANDMARKS, :2], lms[NUM_LANDMARKS:NUM_LANDMARKS + 2, :2]
        visibility = lms[:NUM_LANDMARKS, 3]
        if self.video:
            body = self._landmark_filter(body, 1.0 / max(_object_scale(body), 1e-6))
            aux = self._aux_filter(aux, 1.0 / max(_object_scale(body), 1e-6))
            self._visibility = visibility if self._visibility is None else \
                self._visibility + 0.1 * (visibility - self._visibility)
            visibility = self._visibility
            self.region = region_from_points(aux[0], aux[1])
            self.lock.seen(self.region, now)
        pose = np.empty((NUM_LANDMARKS, 3), dtype=np.float32)
        pose[:, :2] = body
        pose[:, 2] = visibility
        return pose

    def _jumped(self, lms: np.ndarray, now: float) -> bool:
        """Whether tracked landmarks put the person implausibly far from the last frame."""
        aux = lms[NUM_LANDMARKS:NUM_LANDMARKS + 2, :2]
        if not self.lock.jumped(region_from_points(aux[0], aux[1]), now):
            return False
        log.debug("the tracked region jumped away from the locked person; detecting again")
        return True

    def _lost(self) -> None:
        self.region = None
        self._landmark_filter.reset()
        self._aux_filter.reset()
        self._visibility = None

    def reset(self) -> None:
        """Forget tracking and the locked person (the next frame is treated as the first)."""
        self._lost()
        self.lock.release()

    def relock(self) -> None:
        """Choose the performer again, as at the start, from the next frame on.

        Only sets a request that the next `estimate` acts on, so another thread (the
        page's Calibrate/reset) may call it while a frame is being estimated."""
        self._relock_requested = True

    def close(self) -> None:
        for runner in (self.detector, self.landmarks):
            if runner is not None:
                runner.__exit__(None, None, None)
        self.detector = self.landmarks = None
