"""Global pose normalization (Everybody Dance Now, section 3.2).

Per video, from the lowest ankle's image row per frame: `close` is the largest
ankle y (nearest the camera) and `far` a robust far position found from the median,
as in the official data preparation: among the frames above the median by less than
`median_frac` of (close - median), the farthest one. Body height (lowest ankle to
nose) is measured near each position (the tallest within a band). A source ankle y
maps to the target by its relative position `p` between far and close:

    p = (y_src - src.far) / (src.close - src.far)
    y_tgt = tgt.far + p * (tgt.close - tgt.far)
    s = scale_far + p * (scale_close - scale_far),  scale_* = tgt.height_* / src.height_*

and the pose is scaled by `s` about its ankle point, which moves to `y_tgt`;
horizontally it is scaled about the source's centre line onto the target's.

`OfflineNormalizer` knows both videos' statistics; `OnlineNormalizer` gathers the
source's live (a calibration window, then updated over a bounded history) and can be
`reset()`.
"""

from __future__ import annotations

import collections
from dataclasses import asdict, dataclass

import numpy as np

from engine.body import NEUTRAL_SHOULDERS, NEUTRAL_TORSO, shoulder_width, torso_length
from engine.errors import InputError
from engine.keypoints import LM, missing_pose

ANKLES = (LM["left_ankle"], LM["right_ankle"])
NOSE = LM["nose"]


def frame_measures(keypoints: np.ndarray,
                   min_visibility: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: lowest ankle y, body height (ankle to nose) and centre x; NaN if unknown."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim == 2:
        kp = kp[None]
    ankles = kp[:, ANKLES, :]
    ok = np.isfinite(ankles[..., 1]) & (ankles[..., 2] >= min_visibility)
    ankle_y = np.where(ok, ankles[..., 1], -np.inf).max(axis=1)
    ankle_y[~ok.any(axis=1)] = np.nan
    ankle_x = np.where(ok, ankles[..., 0], 0.0)
    count = ok.sum(axis=1)
    center_x = np.where(count > 0, ankle_x.sum(axis=1) / np.maximum(count, 1), np.nan)
    nose_y = np.where(kp[:, NOSE, 2] >= min_visibility, kp[:, NOSE, 1], np.nan)
    height = ankle_y - nose_y
    height[~(height > 0)] = np.nan
    return ankle_y, height, center_x


@dataclass(frozen=True)
class NormalizationStats:
    """One video's framing: where the feet are near and far, and how tall the body is there."""

    far: float  # ankle y at the far position (pixels)
    close: float  # largest ankle y: the position nearest the camera
    median: float  # median ankle y
    height_far: float  # body height (ankle to nose, pixels) near the far position
    height_close: float  # body height near the close position
    center_x: float  # median x of the feet
    frames: int  # frames the statistics come from
    # Proportions per unit of body height (median over the frames that show them; NaN
    # where unknown, e.g. statistics written before they were measured): they give the
    # scale when the legs are out of view.
    torso: float = float("nan")  # shoulders' midpoint to hips' midpoint
    shoulders: float = float("nan")  # shoulder to shoulder

    @property
    def span(self) -> float:
        return self.close - self.far

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def torso_ratio(self) -> float:
        """Torso length per unit of body height (the neutral pose's where unmeasured)."""
        return self.torso if np.isfinite(self.torso) and self.torso > 0 else NEUTRAL_TORSO

    def shoulder_ratio(self) -> float:
        """Shoulder width per unit of body height (the neutral pose's where unmeasured)."""
        return self.shoulders if np.isfinite(self.shoulders) and self.shoulders > 0 \
            else NEUTRAL_SHOULDERS

    @classmethod
    def from_dict(cls, d: dict) -> NormalizationStats:
        optional = ("torso", "shoulders")
        try:
            return cls(**{k: (int(d[k]) if k == "frames" else float(d[k]))
                          for k in cls.__dataclass_fields__ if k in d or k not in optional})
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"bad normalization statistics: {exc}") from exc


def compute_stats(keypoints: np.ndarray, median_frac: float = 0.5, band_frac: float = 0.05,
                  min_visibility: float = 0.0) -> NormalizationStats:
    """Statistics of one video from its keypoints `[T, 33, 3]` (see the module docstring)."""
    ankle_y, height, center_x = frame_measures(keypoints, min_visibility)
    ok = np.isfinite(ankle_y) & np.isfinite(height)
    if not ok.any():
        raise InputError("no frame shows both ankles' row and the nose: cannot measure the body")
    y, h, cx = ankle_y[ok], height[ok], center_x[ok]
    close = float(y.max())
    median = float(np.median(y))
    above = median - y  # > 0 for frames farther than the median
    cand = above[(above > 0) & (above < median_frac * (close - median))]
    far = median - float(cand.max()) if cand.size else median
    # Bands are relative to the body's size, so the statistics scale with the picture.
    band = max(band_frac * (close - far), 0.01 * float(np.median(h)))
    height_close = _tallest_near(y, h, close, band)
    height_far = _tallest_near(y, h, far, band)
    tallest = float(h.max())
    if tallest - height_close > 0.1 * tallest:
        # As the official data preparation does: the close band caught only crouched frames.
        height_close = tallest
    kp = np.asarray(keypoints, dtype=np.float64)
    torso, shoulders = body_proportions((kp if kp.ndim == 3 else kp[None])[ok], h)
    return NormalizationStats(far=far, close=close, median=median, height_far=height_far,
                              height_close=height_close, center_x=float(np.median(cx)),
                              frames=int(ok.sum()), torso=torso, shoulders=shoulders)


def body_proportions(keypoints: np.ndarray, heights: np.ndarray) -> tuple[float, float]:
    """Median torso length and shoulder width per unit of body height (NaN if unseen)."""
    torso = np.array([torso_length(p) for p in keypoints]) / heights
    shoulders = np.array([shoulder_width(p) for p in keypoints]) / heights
    # Facing the camera: the widest shoulders are the truest (turning narrows them).
    wide = shoulders[np.isfinite(shoulders)]
    return (float(np.nanmedian(torso)) if np.isfinite(torso).any() else float("nan"),
            float(np.percentile(wide, 90)) if wide.size else float("nan"))


def _tallest_near(y: np.ndarray, h: np.ndarray, position: float, band: float) -> float:
    """The tallest body among frames whose ankle row is within `band` of `position`
    (the nearest frame's when none is that close, e.g. a median between two frames)."""
    near = np.abs(y - position) <= band
    if not near.any():
        near = np.abs(y - position) == np.abs(y - position).min()
    return float(h[near].max())


@dataclass(frozen=True)
class Transform:
    """Per-frame mapping: scale `s` about (src_x, src_y), which lands on (dst_x, dst_y)."""

    scale: float
    src_x: float
    src_y: float
    dst_x: float
    dst_y: float

    def linear(self) -> tuple[float, float, float]:
        """(s, bx, by) such that a point maps to (s x + bx, s y + by)."""
        return (self.scale, self.dst_x - self.scale * self.src_x,
                self.dst_y - self.scale * self.src_y)

    @classmethod
    def blend(cls, a: Transform, b: Transform, w: float) -> Transform:
        """The mapping `(1 - w) a + w b` (exact for the points mapped)."""
        (sa, xa, ya), (sb, xb, yb) = a.linear(), b.linear()
        return cls(scale=(1 - w) * sa + w * sb, src_x=0.0, src_y=0.0,
                   dst_x=(1 - w) * xa + w * xb, dst_y=(1 - w) * ya + w * yb)

    def apply(self, pose: np.ndarray) -> np.ndarray:
        out = np.array(pose, dtype=np.float32, copy=True)
        out[..., 0] = self.dst_x + self.scale * (out[..., 0] - self.src_x)
        out[..., 1] = self.dst_y + self.scale * (out[..., 1] - self.src_y)
        return out


MIN_DEPTH_SPAN = 0.1  # far-to-close ankle rows below this fraction of the body height: no depth


def relative_position(y: float, stats: NormalizationStats) -> float:
    """Where ankle row `y` lies between far (0) and close (1); NaN when the statistics span
    no real depth (the source never moved toward or away from the camera: its ankle rows
    differ by less than `MIN_DEPTH_SPAN` of its height, mere jitter, which would turn into
    wild positions and scales if divided by)."""
    span = stats.span
    height = max(abs(stats.height_far), abs(stats.height_close), 1.0)
    if span < MIN_DEPTH_SPAN * height:
        return float("nan")
    return (y - stats.far) / span


def transform_for(ankle_y: float, src: NormalizationStats,
                  tgt: NormalizationStats) -> Transform:
    """The paper's translation and interpolated scale for one source ankle row."""
    p = relative_position(ankle_y, src)
    if not np.isfinite(p):
        # The source never moved in depth: stand it where the target usually stands.
        p_tgt = relative_position(tgt.median, tgt)
        p = p_tgt if np.isfinite(p_tgt) else 1.0
        y_tgt = tgt.median
    else:
        y_tgt = tgt.far + p * tgt.span
    scale_far = tgt.height_far / src.height_far
    scale_close = tgt.height_close / src.height_close
    s = scale_far + p * (scale_close - scale_far)
    s = float(np.clip(s, 0.2 * min(scale_far, scale_close), 5.0 * max(scale_far, scale_close)))
    return Transform(scale=s, src_x=src.center_x, src_y=float(ankle_y), dst_x=tgt.center_x,
                     dst_y=float(y_tgt))


class OfflineNormalizer:
    """Normalizes a whole source video when both videos' statistics are known."""

    def __init__(self, source: NormalizationStats, target: NormalizationStats) -> None:
        self.source, self.target = source, target

    def transform(self, pose: np.ndarray) -> Transform | None:
        """The transform of one pose, or None when it shows no ankle."""
        ankle_y, _, _ = frame_measures(pose)
        if not np.isfinite(ankle_y[0]):
            return None
        return transform_for(float(ankle_y[0]), self.source, self.target)

    def reset(self) -> None:
        """Nothing to forget: both videos' statistics are fixed."""

    def transforms(self, keypoints: np.ndarray) -> list[Transform | None]:
        """One transform per frame; frames without ankles reuse the nearest earlier one
        (or the first later one at the start), None when the video has none at all."""
        ankle_y, _, _ = frame_measures(keypoints)
        out: list[Transform | None] = [None] * len(ankle_y)
        last: Transform | None = None
        for i, y in enumerate(ankle_y):
            if np.isfinite(y):
                last = transform_for(float(y), self.source, self.target)
            out[i] = last
        first = next((t for t in out if t is not None), None)
        return [t if t is not None else first for t in out]

    def __call__(self, keypoints: np.ndarray) -> np.ndarray:
        kp = np.asarray(keypoints, dtype=np.float32)
        result = kp.copy()
        for i, tr in enumerate(self.transforms(kp)):
            if tr is not None:
                result[i] = tr.apply(kp[i])
        return result


class OnlineNormalizer:
    """Normalizes a live stream whose statistics are learned as it goes.

    Until `calibration_frames` usable frames have been seen, provisional statistics come
    from the frames so far; afterwards they are recomputed every `update_every` frames
    from the last `history_frames`. New statistics take over gradually, over
    `blend_frames` frames, so that an update never makes the avatar jump. `reset()`
    forgets the source and starts a new calibration on the next frame.
    """

    def __init__(self, target: NormalizationStats, calibration_frames: int = 60,
                 history_frames: int = 900, update_every: int = 30,
                 blend_frames: int = 15) -> None:
        if calibration_frames < 1 or history_frames < calibration_frames or update_every < 1:
            raise ValueError("need 1 <= calibration_frames <= history_frames, update_every >= 1")
        if blend_frames < 0:
            raise ValueError("blend_frames must be >= 0")
        self.target = target
        self.blend_frames = blend_frames
        self.calibration_frames = calibration_frames
        self.update_every = update_every
        self._history: collections.deque[np.ndarray] = collections.deque(maxlen=history_frames)
        self.reset()

    def reset(self) -> None:
        self._history.clear()
        self._since_update = 0
        self.source: NormalizationStats | None = None
        self._previous: NormalizationStats | None = None  # the statistics taking leave
        self._blend = 0  # frames since the current statistics came in
        self._last: Transform | None = None

    @property
    def calibrated(self) -> bool:
        return len(self._history) >= self.calibration_frames

    def _refresh(self) -> None:
        hist = np.stack(self._history)
        if self.source is not None and self._weight() >= 0.5:
            self._previous = self.source  # the statistics mostly in use until now
        self.source = compute_stats(hist)
        self._since_update = 0
        self._blend = 0

    def _weight(self) -> float:
        """How far the current statistics have taken over from the previous ones, 0..1."""
        if self._previous is None or self.blend_frames == 0:
            return 1.0
        return min(1.0, self._blend / self.blend_frames)

    def transform(self, pose: np.ndarray) -> Transform | None:
        """Learn from `pose` (`[33, 3]`, missing joints NaN) and return its transform, or
        None when it shows no ankle or nothing has been measured yet."""
        pose = np.asarray(pose, dtype=np.float32)
        ankle_y, height, _ = frame_measures(pose)
        usable = bool(np.isfinite(ankle_y[0]) and np.isfinite(height[0]))
        if usable:
            self._history.append(pose)
            self._since_update += 1
            if (self.source is None or not self.calibrated
                    or self._since_update >= self.update_every):
                self._refresh()
        if self.source is None:
            return None
        w = self._weight()
        self._blend += 1
        if not np.isfinite(ankle_y[0]):
            return None
        new = transform_for(float(ankle_y[0]), self.source, self.target)
        if w >= 1.0 or self._previous is None:
            return new
        old = transform_for(float(ankle_y[0]), self._previous, self.target)
        return Transform.blend(old, new, w)

    def __call__(self, pose: np.ndarray) -> np.ndarray:
        pose = np.asarray(pose, dtype=np.float32)
        tr = self.transform(pose)
        if np.all(np.isnan(pose[:, :2])):
            return missing_pose()
        if tr is not None:
            self._last = tr
        if self._last is None:
            return pose.copy()  # nothing measured yet: pass through unchanged
        return self._last.apply(pose)
