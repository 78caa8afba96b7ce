"""Geometry shared by BlazePose's stages: detections, and the rotated square regions the
landmark model runs on.

A region is centred on the hip centre and sized from the body's enclosing circle (the
detector's two alignment keypoints, or landmarks 33/34 while tracking), so a region from
a detection and one from tracking the same person agree in centre and side. The person
lock (`engine.pose.lock`) compares people through their regions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ROI_SCALE = 1.25


@dataclass(frozen=True)
class Detection:
    """One person found by the detector, best-scored first in a list.

    `box` (centre x, centre y, width, height) covers the face; `keypoints` `[4, 2]` are
    the hip centre, a point on the circle enclosing the body, and two more. Units are
    those of whoever made it: [0, 1] of the detector's input from `decode_detections`,
    frame pixels from `BlazePoseRunners.detections`.
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray


@dataclass(frozen=True)
class Region:
    """A rotated square in frame pixels: centre, side, rotation (radians, y down)."""

    x: float
    y: float
    side: float
    rotation: float

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.x, self.y])


def region_from_points(centre: np.ndarray, top: np.ndarray) -> Region:
    """The region aligned so `top` lies straight above `centre`, scaled like mediapipe."""
    dx, dy = float(top[0] - centre[0]), float(top[1] - centre[1])
    angle = math.pi / 2 - math.atan2(-dy, dx)
    angle -= 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    side = 2.0 * math.hypot(dx, dy) * ROI_SCALE
    return Region(float(centre[0]), float(centre[1]), side, angle)


def detection_region(detection: Detection) -> Region:
    """The body region of a detection (in the detection's units)."""
    return region_from_points(detection.keypoints[0], detection.keypoints[1])


def crop_matrix(region: Region, size: int) -> np.ndarray:
    """2x3 affine map from crop pixels (0..size) to frame pixels."""
    c, s = math.cos(region.rotation), math.sin(region.rotation)
    k = region.side / size
    return np.array([[c * k, -s * k, region.x - (c - s) * region.side / 2],
                     [s * k, c * k, region.y - (s + c) * region.side / 2]], dtype=np.float64)


def project(points: np.ndarray, region: Region, size: int) -> np.ndarray:
    """Crop pixels `[N, 2]` -> frame pixels."""
    m = crop_matrix(region, size)
    return points @ m[:, :2].T + m[:, 2]
