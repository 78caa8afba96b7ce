"""From what the camera shows to the whole body the avatar shows, in the target's framing.

Per frame (poses in the avatar's pixels, joints that are not there NaN):

* **Mode.** `full` when both ankles are there and the paper's normalization can place
  them; `upper` when the legs are out of view but something of the body is there (a desk
  view); `none` when nobody is in view.
* **Placement** (a scale and a translation). `full`: the paper's global normalization
  (`engine.normalize`: ankle row -> floor position and scale). `upper`: the scale comes
  from the performer's torso length (or their shoulder width when the hips are hidden)
  against the target's torso at its usual standing place, and the hips go where the
  target's hips are when it stands there; horizontally the avatar follows the performer
  about a slowly moving centre. Between the two, the placement eases over
  `transition_seconds`, so a zoom or a step toward the camera never makes the avatar jump.
* **Completion** (`engine.completion`): joints not there hang from the ones that are,
  holding their last pose, then easing to the neutral standing pose (legs stand, arms
  hang).
* **In the frame.** The avatar's whole body stays inside its frame (shifted, or scaled
  about its centre where it would not fit).
* **Nobody.** The last pose is held, then eased to the neutral standing pose
  (`GapBridge`); the generator restarts when the performer comes back after the hold.

`Framing` is used by the live label step and by offline rendering alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.body import (
    HIPS,
    NEUTRAL_TORSO,
    NOSE,
    SHOULDERS,
    standing_height,
    standing_pose,
    standing_pose_at,
)
from engine.completion import PoseCompleter, smoothstep
from engine.keypoints import LM
from engine.normalize import NormalizationStats, Transform

MODES = ("full", "upper", "none")
# What the page tells the performer in each mode (empty: nothing to do).
HINTS = {"full": "", "upper": "step back to show your legs", "none": "step into view"}
ANKLES = (LM["left_ankle"], LM["right_ankle"])
HEAD_TOP = 0.12  # the head's top above the nose, per unit of body height


class Normalizer(Protocol):
    """The paper's normalization for frames that show the ankles."""

    def transform(self, pose: np.ndarray) -> Transform | None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class FramingConfig:
    hold_seconds: float = 0.5  # a joint (or the whole person) lost keeps its pose this long
    ease_seconds: float = 1.0  # then eases to the neutral standing pose over this long
    return_seconds: float = 0.3  # a joint seen again eases to where it is seen
    reacquire_seconds: float = 0.1  # a joint must be seen this long to count again
    transition_seconds: float = 0.5  # full-body <-> upper-body placement ease
    torso_seconds: float = 0.3  # smoothing time of the performer's torso length
    centre_seconds: float = 3.0  # upper body: the centre the avatar sways about follows
    margin: float = 0.03  # free border kept around the avatar's body, fraction of the frame
    max_frame_step: float = 0.01  # fastest the keep-in-frame correction moves, per frame


@dataclass
class Framed:
    """One frame's result."""

    pose: np.ndarray  # [33, 3] the whole body to show, avatar pixels
    mode: str  # full | upper | none
    held: bool  # nobody seen: the pose is held or eased
    restart: bool  # the performer came back after a gap: restart temporal feedback


class GapBridge:
    """What to show while nobody is seen: the last pose for `hold_seconds`, then an ease
    to the neutral standing pose over `ease_seconds`, then that pose. `seen` reports a
    pose and says whether the generator should restart (the gap outlasted the hold)."""

    def __init__(self, neutral: np.ndarray, hold_seconds: float = 0.5,
                 ease_seconds: float = 1.0) -> None:
        self.neutral = neutral
        self.hold_seconds = hold_seconds
        self.ease_seconds = ease_seconds
        self._last: np.ndarray | None = None
        self._missing_since: float | None = None

    def seen(self, pose: np.ndarray, now: float) -> bool:
        restart = (self._missing_since is not None
                   and now - self._missing_since > self.hold_seconds)
        self._missing_since = None
        self._last = pose
        return restart

    def missing(self, now: float) -> np.ndarray:
        if self._missing_since is None:
            self._missing_since = now
        gone = now - self._missing_since
        if self._last is None:
            return self.neutral
        if gone <= self.hold_seconds:
            return self._last
        w = smoothstep((gone - self.hold_seconds) / max(self.ease_seconds, 1e-6))
        pose = self._last.copy()
        both = np.isfinite(pose[:, :2]).all(axis=1)
        pose[both, :2] = (1 - w) * pose[both, :2] + w * self.neutral[both, :2]
        pose[~both] = self.neutral[~both]
        return pose


def _mid(pose: np.ndarray, pair: tuple[int, int], usable: np.ndarray) -> np.ndarray | None:
    if not usable[list(pair)].all():
        return None
    return pose[list(pair), :2].astype(np.float64).mean(axis=0)


def _follow(old: float | None, new: float, dt: float, seconds: float) -> float:
    """Exponential smoothing of `new` with time constant `seconds`."""
    if old is None or not math.isfinite(old):
        return new
    a = 1.0 - math.exp(-max(dt, 0.0) / max(seconds, 1e-6))
    return old + a * (new - old)


class Framing:
    """Places, completes and frames each pose (see the module docstring)."""

    def __init__(self, target: NormalizationStats, size: int,
                 normalizer: Normalizer | None, config: FramingConfig | None = None) -> None:
        self.target, self.size = target, size
        self.normalizer = normalizer
        self.config = config or FramingConfig()
        c = self.config
        self.neutral = standing_pose(target)
        self.stand_height = standing_height(target)
        self.completer = PoseCompleter(c.hold_seconds, c.ease_seconds, c.return_seconds,
                                       c.reacquire_seconds)
        self.bridge = GapBridge(self.neutral, c.hold_seconds, c.ease_seconds)
        self.reset()

    def reset(self) -> None:
        """Forget the performer (statistics, proportions, what was shown)."""
        if self.normalizer is not None:
            self.normalizer.reset()
        self.completer.reset()
        self._torso: float | None = None  # the performer's torso length, source pixels
        self._shoulder_per_torso: float | None = None  # the performer's proportions
        self._centre_x: float | None = None  # upper body: the centre the avatar sways about
        self._from_shoulders: np.ndarray | None = None  # hips' midpoint from the shoulders'
        self._from_nose: np.ndarray | None = None  # hips' midpoint from the nose
        self._anchor: np.ndarray | None = None  # the hips' midpoint last used, source pixels
        self._anchor_method = ""  # how it was found: hips | shoulders | nose
        self._anchor_jump = np.zeros(2)  # what a change of method moved it by, spread out
        self._anchor_since = 0.0
        self._full: tuple[float, float, float] | None = None  # last full-body placement
        self._upper: tuple[float, float, float] | None = None  # last upper-body placement
        self._toward_full = 0.0  # 0 upper .. 1 full, before easing
        self._placement: tuple[float, float, float] | None = None  # the last one used
        self._was_full = False  # the last frame was placed as a whole body
        self._leave_from: np.ndarray | None = None  # leaving the whole body: (r, cx, cy),
        self._leave_weight = 0.0  # the mapping on top of the upper body's, and its weight
        self._none_since: float | None = None  # when nobody was seen any more
        self._last_time: float | None = None
        self._shift = np.zeros(2)  # the keep-in-frame correction in use, pixels
        self._shrink = 1.0
        self.mode = "none"

    # -- per frame ----------------------------------------------------------------------
    def __call__(self, pose: np.ndarray, now: float) -> Framed:
        """Frame `pose` (`[33, 3]` in the avatar's pixels, missing joints NaN) at `now`."""
        dt = 0.0 if self._last_time is None else now - self._last_time
        self._last_time = now
        anyone = bool(np.isfinite(np.asarray(pose, dtype=np.float64)[:, :2]).any())
        if not anyone:
            if self._none_since is None:
                self._none_since = now
            self.completer.usable(pose, now)
            self.mode = "none"
            return Framed(self.bridge.missing(now), "none", held=True, restart=False)
        # Back after nobody was in view: a short gap continues from what was shown; after
        # a gap longer than the hold, the body starts afresh (as the generator does).
        fresh = (self._none_since is not None
                 and now - self._none_since > self.config.hold_seconds)
        self._none_since = None
        if fresh:
            self.completer.reset()
        usable = self.completer.usable(pose, now)
        if not usable.any():  # seen, but nothing has counted long enough yet: hold
            self.mode = "none"
            return Framed(self.bridge.missing(now), "none", held=True, restart=False)
        obs = np.array(pose, dtype=np.float32, copy=True)
        obs[~usable, :2] = np.nan
        obs[~usable, 2] = 0.0
        full = self.normalizer.transform(obs) if self.normalizer is not None else None
        full_body = full is not None and bool(usable[list(ANKLES)].all())
        self._measure(obs, usable, dt)
        upper_before = self._upper
        upper = self._upper_placement(obs, usable, dt)
        if full_body:
            self._full = full.linear()  # type: ignore[union-attr]
        if upper is not None:
            self._upper = upper
        step = dt / max(self.config.transition_seconds, 1e-6)
        if self._full is None:
            self._toward_full = 0.0
        elif self._upper is None or fresh or self._placement is None:
            # Nothing shown to ease from (the start, or back after nobody was in view).
            self._toward_full = 1.0 if full_body else 0.0
        else:
            if (not full_body and self._was_full and upper is not None
                    and upper_before is not None):
                # Leaving the whole body: the placement in use, as a mapping on top of the
                # upper-body one (which keeps following the camera), eases to nothing.
                r = self._placement[0] / upper_before[0]
                self._leave_from = np.array([r, self._placement[1] - r * upper_before[1],
                                             self._placement[2] - r * upper_before[2]])
                self._leave_weight = smoothstep(self._toward_full)
            self._toward_full = float(np.clip(self._toward_full + (step if full_body else -step),
                                              0.0, 1.0))
        w = smoothstep(self._toward_full)
        if (not full_body and upper is not None and self._leave_from is not None
                and self._leave_weight > 0):
            k = w / self._leave_weight
            r, cx, cy = self._leave_from
            rk = 1.0 + (r - 1.0) * k
            placement = (rk * upper[0], rk * upper[1] + k * cx, rk * upper[2] + k * cy)
        else:
            placement = self._blend(w)
        self._placement = placement
        self._was_full = full_body
        self.mode = "full" if full_body else "upper"
        if placement is None:  # nothing to place the body by yet
            shown = self.neutral.copy()
        else:
            s, bx, by = placement
            placed = obs.copy()
            placed[:, 0] = s * obs[:, 0] + bx
            placed[:, 1] = s * obs[:, 1] + by
            shown = self.completer.complete(placed, usable, self._neutral_at(s), now)
            shown = self._inside_frame(shown)
        restart = self.bridge.seen(shown, now)
        return Framed(shown, self.mode, held=False, restart=restart)

    # -- measures -----------------------------------------------------------------------
    def _measure(self, obs: np.ndarray, usable: np.ndarray, dt: float) -> None:
        """Update the performer's torso length (and shoulder-to-torso proportion)."""
        shoulders, hips = _mid(obs, SHOULDERS, usable), _mid(obs, HIPS, usable)
        width = (float(np.linalg.norm(obs[SHOULDERS[0], :2] - obs[SHOULDERS[1], :2]))
                 if usable[list(SHOULDERS)].all() else None)
        torso = None
        if shoulders is not None and hips is not None:
            torso = float(np.linalg.norm(shoulders - hips))
            if width is not None and torso > 1e-6:
                self._shoulder_per_torso = _follow(self._shoulder_per_torso, width / torso, dt,
                                                   2.0)
        elif width is not None:
            ratio = self._shoulder_per_torso or (self.target.shoulder_ratio()
                                                 / self.target.torso_ratio())
            torso = width / max(ratio, 1e-6)
        if torso is not None and torso > 1e-6:
            self._torso = _follow(self._torso, torso, dt, self.config.torso_seconds)

    def _upper_placement(self, obs: np.ndarray, usable: np.ndarray,
                         dt: float) -> tuple[float, float, float] | None:
        """The upper-body placement (s, bx, by), or None without a torso measure."""
        if self._torso is None:
            return None
        torso = self._torso
        hips, shoulders = _mid(obs, HIPS, usable), _mid(obs, SHOULDERS, usable)
        nose = obs[NOSE, :2].astype(np.float64) if usable[NOSE] else None
        # Where the hips were from the shoulders and from the nose when last seen stands in
        # for them while they are out of view (so their leaving makes no jump).
        # (In units of the torso length, so that they follow the body's size.)
        if self._from_shoulders is None:
            self._from_shoulders = np.array([0.0, 1.0])
            self._from_nose = np.array([0.0, 0.5 / NEUTRAL_TORSO])
        if hips is not None and shoulders is not None:
            self._from_shoulders = (hips - shoulders) / torso
        if hips is not None and nose is not None:
            self._from_nose = (hips - nose) / torso
        if hips is not None:
            method = "hips"
        elif shoulders is not None:
            hips, method = shoulders + torso * self._from_shoulders, "shoulders"
        elif nose is not None:
            hips, method = nose + torso * self._from_nose, "nose"
        else:
            return None
        hips = self._continuous_anchor(hips, method)
        self._centre_x = _follow(self._centre_x, float(hips[0]), dt, self.config.centre_seconds)
        target_torso = self.target.torso_ratio() * self.stand_height
        s = target_torso / torso
        height = target_torso / NEUTRAL_TORSO  # the neutral body with the target's torso
        hip_y = self.target.median - 0.5 * height  # neutral legs reach the usual floor
        x = self.target.center_x + s * (float(hips[0]) - self._centre_x)
        return s, x - s * float(hips[0]), hip_y - s * float(hips[1])

    def _continuous_anchor(self, anchor: np.ndarray, method: str) -> np.ndarray:
        """`anchor` with any jump from a change of `method` (hips seen, or placed from the
        shoulders or the nose) spread over `return_seconds`."""
        now = self._last_time or 0.0
        if self._anchor is not None and method != self._anchor_method:
            self._anchor_jump = self._anchor - anchor
            self._anchor_since = now
        self._anchor_method = method
        out = anchor + self._anchor_left(now)
        self._anchor = out
        return out

    def _anchor_left(self, now: float) -> np.ndarray:
        w = smoothstep((now - self._anchor_since) / max(self.config.return_seconds, 1e-6))
        return (1.0 - w) * self._anchor_jump

    def _blend(self, w: float) -> tuple[float, float, float] | None:
        if self._full is None or w >= 1.0:
            return self._full if self._full is not None else self._upper
        if self._upper is None or w <= 0.0:
            return self._upper
        return tuple((1 - w) * u + w * f  # type: ignore[return-value]
                     for u, f in zip(self._upper, self._full, strict=True))

    def _neutral_at(self, s: float) -> np.ndarray:
        """The neutral standing pose at the avatar's current size (its torso as placed)."""
        torso = (self._torso or 0.0) * s
        height = torso / NEUTRAL_TORSO if torso > 1e-6 else self.stand_height
        return standing_pose_at(self.target.center_x, self.target.median, height)

    def _inside_frame(self, pose: np.ndarray) -> np.ndarray:
        """Shift (and if needed shrink) the body so that all of it lies inside the frame.

        The correction follows what is needed at a bounded rate (`max_frame_step` of the
        frame per frame), so an arm swung toward the edge slides the body over gently
        instead of dragging it along at the arm's speed."""
        xy = pose[:, :2].astype(np.float64)
        height = max(float(np.nanmax(xy[:, 1]) - xy[NOSE, 1]), 1.0)
        lo = np.array([np.nanmin(xy[:, 0]), min(np.nanmin(xy[:, 1]),
                                                xy[NOSE, 1] - HEAD_TOP * height)])
        hi = np.array([np.nanmax(xy[:, 0]), np.nanmax(xy[:, 1])])
        m = self.config.margin * self.size
        room = self.size - 2 * m
        limit = self.config.max_frame_step * self.size
        want_shrink = min(1.0, room / max(float((hi - lo).max()), 1e-6))
        step = self.config.max_frame_step
        self._shrink = float(np.clip(want_shrink, self._shrink - step, self._shrink + step))
        centre = (lo + hi) / 2
        xy = centre + self._shrink * (xy - centre)
        lo, hi = centre + self._shrink * (lo - centre), centre + self._shrink * (hi - centre)
        want = np.maximum(m - lo, 0.0) - np.maximum(hi - (self.size - m), 0.0)
        self._shift = np.clip(want, self._shift - limit, self._shift + limit)
        out = pose.copy()
        out[:, :2] = xy + self._shift
        return out
