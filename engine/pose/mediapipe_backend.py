"""BlazePose (full model) through mediapipe's bundled legacy Pose solution.

mediapipe's API gives no say over which detection it follows: with several people in
view it tracks whichever its detector ranks first whenever it detects again, and may
switch between them. Locking on one performer (`engine.pose.lock`) is a feature of the
ONNX backend (`engine.pose.blazepose`, the live default); here `relock()` only restarts
tracking, so the next frame detects afresh.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from engine.keypoints import NUM_LANDMARKS, missing_pose
from engine.pose.base import PoseEstimator

log = logging.getLogger(__name__)

# mediapipe logs through glog/absl to stderr at import; keep that quiet unless asked.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class MediaPipePose(PoseEstimator):
    """BlazePose full (`pose_landmark_full.tflite`) with mediapipe's ROI tracking."""

    def __init__(self, video: bool = True, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        super().__init__(video)
        try:
            import mediapipe as mp
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise RuntimeError("the mediapipe pose backend needs `pip install "
                               "mediapipe==0.10.14`") from exc
        self._solution = mp.solutions.pose
        self._options = dict(static_image_mode=not video, model_complexity=1,
                             smooth_landmarks=video, enable_segmentation=False,
                             min_detection_confidence=min_detection_confidence,
                             min_tracking_confidence=min_tracking_confidence)
        self._pose = self._solution.Pose(**self._options)
        self._restart_requested = False

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        frame = self.check_frame(frame)
        h, w = frame.shape[:2]
        if self._restart_requested:
            self._restart_requested = False
            self.reset()
        result = self._pose.process(frame)
        if result.pose_landmarks is None:
            return missing_pose()
        pose = np.empty((NUM_LANDMARKS, 3), dtype=np.float32)
        for i, lm in enumerate(result.pose_landmarks.landmark):
            pose[i] = (lm.x * w, lm.y * h, lm.visibility)
        return pose

    def reset(self) -> None:
        self._pose.close()
        self._pose = self._solution.Pose(**self._options)

    def relock(self) -> None:
        """Restart tracking at the next frame (mediapipe cannot choose the person)."""
        self._restart_requested = True

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
