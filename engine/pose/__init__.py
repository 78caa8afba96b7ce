"""Pose estimation: frames in, BlazePose 33-landmark poses out (`[33, 3]` per frame)."""

from engine.pose.base import PoseEstimator, create_estimator, estimator_names

__all__ = ["PoseEstimator", "create_estimator", "estimator_names"]
