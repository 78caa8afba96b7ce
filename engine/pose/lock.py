"""The person lock: with several people in view, the pose stays on one performer.

Every person is compared through their body region (`engine.pose.regions`): its centre
is the hip centre and its side spans the body's enclosing circle. The detector's own box
covers only the face, so sizes are read from the region, not from that box.

Choosing (at the start, and after `release()`: the page's Calibrate/reset): the most
prominent detection, the largest and most central one, by

    prominence = side / L - centre_weight * |centre - frame centre| / L

with L the frame's longer side. With the default weight 1, a person must be larger by
as many pixels as they stand farther from the centre to win.

Keeping: while the estimator tracks (region from the previous frame's landmarks), each
frame's region becomes the anchor (`seen`). When tracking is lost and the detector runs
again, `choose` takes, of the detections that fit the anchor, the nearest one. A
detection fits when, `t` seconds after the anchor was last seen, with S its side,

    |centre - anchor centre| <= S * (match_radius + match_growth * t)
    max(side / S, S / side)  <= size_tolerance + size_growth * t

where t stops growing at `growth_seconds`: by default the centre may end up half a side
away and the size off by a factor 2.25, however long the person was lost, so someone
standing farther off than that is never taken for them while the lock holds. If none
fits, `choose` returns None: the estimator reports nobody rather than switching to
someone else. Once the anchor has not been seen for `release_seconds` (default 3 s), the
lock lapses and prominence chooses again.

Guarding: a tracked region whose centre moved more than
S * (jump_radius + jump_growth * dt) since the anchor (dt seconds earlier) did not follow
the person (the region slid onto someone else); `jumped` says so, and the estimator
treats the person as lost.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.pose.regions import Detection, Region, detection_region

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockOptions:
    """The lock's bounds; distances in anchor sides, times in seconds (module docstring)."""

    centre_weight: float = 1.0
    match_radius: float = 0.25
    match_growth: float = 0.25
    size_tolerance: float = 1.75
    size_growth: float = 0.5
    growth_seconds: float = 1.0
    release_seconds: float = 3.0
    jump_radius: float = 0.1
    jump_growth: float = 1.5

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"the person lock's {name} must be finite and >= 0, "
                                 f"got {value}")
        if self.size_tolerance < 1:
            raise InputError(f"the person lock's size_tolerance is a ratio >= 1, got "
                             f"{self.size_tolerance}")


def prominence(region: Region, frame_size: tuple[int, int], centre_weight: float = 1.0
               ) -> float:
    """How large and central a body region is in a `(width, height)` frame."""
    width, height = frame_size
    longer = float(max(width, height))
    off = math.hypot(region.x - width / 2, region.y - height / 2)
    return (region.side - centre_weight * off) / longer


def most_prominent(detections: Sequence[Detection], frame_size: tuple[int, int],
                   centre_weight: float = 1.0) -> Detection | None:
    """The largest and most central detection (frame pixels), or None when there is none."""
    if not detections:
        return None
    scores = [prominence(detection_region(d), frame_size, centre_weight) for d in detections]
    return detections[int(np.argmax(scores))]


def fits(region: Region, anchor: Region, elapsed: float, options: LockOptions) -> bool:
    """Whether `region` can be the anchor's person `elapsed` seconds after it was seen."""
    elapsed = min(max(elapsed, 0.0), options.growth_seconds)
    side = max(anchor.side, 1e-6)
    distance = float(np.linalg.norm(region.centre - anchor.centre))
    if distance > side * (options.match_radius + options.match_growth * elapsed):
        return False
    ratio = max(region.side, 1e-6) / side
    return max(ratio, 1 / ratio) <= options.size_tolerance + options.size_growth * elapsed


def nearest_fit(detections: Sequence[Detection], anchor: Region, elapsed: float,
                options: LockOptions) -> Detection | None:
    """Of the detections that fit the anchor, the one nearest its centre; else None."""
    best, best_distance = None, math.inf
    for detection in detections:
        region = detection_region(detection)
        if not fits(region, anchor, elapsed, options):
            continue
        distance = float(np.linalg.norm(region.centre - anchor.centre))
        if distance < best_distance:
            best, best_distance = detection, distance
    return best


class PersonLock:
    """Which person to follow across detections (module docstring); times in seconds."""

    def __init__(self, options: LockOptions | None = None) -> None:
        self.options = options or LockOptions()
        self.anchor: Region | None = None
        self.seen_at = -math.inf

    @property
    def locked(self) -> bool:
        return self.anchor is not None

    def release(self) -> None:
        """Forget the person: the next `choose` takes the most prominent one."""
        if self.anchor is not None:
            log.info("person lock released")
        self.anchor = None
        self.seen_at = -math.inf

    def seen(self, region: Region, now: float) -> None:
        """The locked person (or the first one chosen) is at `region` at time `now`."""
        if self.anchor is None:
            log.info("person locked at (%.0f, %.0f), side %.0f px", region.x, region.y,
                     region.side)
        self.anchor, self.seen_at = region, now

    def expired(self, now: float) -> bool:
        return self.anchor is not None and now - self.seen_at > self.options.release_seconds

    def choose(self, detections: Sequence[Detection], frame_size: tuple[int, int],
               now: float) -> Detection | None:
        """The detection (frame pixels) to follow at `now`, or None for nobody."""
        if self.expired(now):
            log.info("the locked person was not seen for %.1f s", now - self.seen_at)
            self.release()
        if self.anchor is None:
            return most_prominent(detections, frame_size, self.options.centre_weight)
        chosen = nearest_fit(detections, self.anchor, now - self.seen_at, self.options)
        if chosen is None and detections:
            log.debug("the locked person is not among %d detections", len(detections))
        return chosen

    def jumped(self, region: Region, now: float) -> bool:
        """Whether a tracked `region` moved too far from the anchor to be its person."""
        if self.anchor is None:
            return False
        dt = max(now - self.seen_at, 0.0)
        bound = self.anchor.side * (self.options.jump_radius + self.options.jump_growth * dt)
        return float(np.linalg.norm(region.centre - self.anchor.centre)) > bound
