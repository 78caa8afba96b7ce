"""Joints the camera does not show, completed so the avatar always has a whole body.

A joint that is not there (out of the frame, low visibility: `engine.keypoints`) is
placed relative to the joint it hangs from (`engine.body.PARENTS`): first at the offset
it had when it was last shown (the limb holds its pose), then, after `hold_seconds`, eased
over `ease_seconds` to the neutral standing pose's offset (legs stand, arms hang). A joint
that comes back counts only once it has been seen for `reacquire_seconds` (a joint that
flickers at the frame's edge does not make the limb twitch), and then eases from where it
was shown to where it is seen over `return_seconds`. Every change is continuous.

`PoseCompleter.usable` says which joints count this frame; `complete` builds the pose the
avatar shows from the placed observation. Poses are in the avatar's pixels.
"""

from __future__ import annotations

import numpy as np

from engine.body import PARENTS
from engine.keypoints import NUM_LANDMARKS


def smoothstep(w: float) -> float:
    """0..1 -> 0..1 with zero slope at both ends."""
    w = min(max(w, 0.0), 1.0)
    return w * w * (3.0 - 2.0 * w)


class PoseCompleter:
    """Completes `[33, 3]` poses joint by joint (see the module docstring)."""

    def __init__(self, hold_seconds: float = 0.5, ease_seconds: float = 1.0,
                 return_seconds: float = 0.3, reacquire_seconds: float = 0.1) -> None:
        if min(hold_seconds, ease_seconds, return_seconds, reacquire_seconds) < 0:
            raise ValueError("completion times must be >= 0")
        self.hold_seconds, self.ease_seconds = hold_seconds, ease_seconds
        self.return_seconds, self.reacquire_seconds = return_seconds, reacquire_seconds
        self.reset()

    def reset(self) -> None:
        n = NUM_LANDMARKS
        self._previous: np.ndarray | None = None  # [33, 2] the last pose shown
        self._usable = np.zeros(n, bool)  # counted as seen in the last frame
        self._seen_since = np.full(n, np.nan)  # start of the current run of sightings
        self._lost_at = np.full(n, np.nan)  # when a joint stopped counting
        self._held = np.full((n, n, 2), np.nan)  # per joint: the pose shown when it was lost
        self._back_at = np.full(n, np.nan)  # when a joint counted again
        self._back_by = np.zeros((n, 2))  # per joint: where it was shown minus where seen

    def usable(self, observed: np.ndarray, now: float) -> np.ndarray:
        """Boolean `[33]`: joints of `observed` (NaN where not there) that count at `now`."""
        there = np.isfinite(np.asarray(observed, dtype=np.float64)[:, :2]).all(axis=1)
        start = np.where(there & np.isnan(self._seen_since), now, self._seen_since)
        self._seen_since = np.where(there, start, np.nan)
        settled = there & (now - self._seen_since >= self.reacquire_seconds - 1e-9)
        never_shown = self._previous is None
        return there & (self._usable | settled | never_shown)

    def complete(self, placed: np.ndarray, usable: np.ndarray, neutral: np.ndarray,
                 now: float) -> np.ndarray:
        """The whole `[33, 3]` pose to show: `placed` (the observation in the avatar's
        pixels) where `usable`, the rest completed from `neutral` (`[33, >=2]`, the
        standing pose at the avatar's current size) and what was shown before."""
        placed = np.asarray(placed, dtype=np.float64)
        neutral = np.asarray(neutral, dtype=np.float64)[:, :2]
        prev = self._previous
        self._note_changes(usable, placed, now, prev)
        out = np.full((NUM_LANDMARKS, 2), np.nan)
        out[usable] = placed[usable, :2]
        # Joints that came back ease from where they were shown to where they are seen
        # (before anything hangs from them, so their children follow smoothly too).
        for j in np.flatnonzero(usable & np.isfinite(self._back_at)):
            w = smoothstep((now - self._back_at[j]) / max(self.return_seconds, 1e-6))
            if w >= 1.0:
                self._back_at[j] = np.nan
            else:
                out[j] += (1.0 - w) * self._back_by[j]
        done = usable.copy()
        while not done.all():
            progressed = False
            for j in np.flatnonzero(~done):
                parent = self._parent(j, usable, done)
                if parent is None:
                    continue
                out[j] = out[parent] + self._offset(j, parent, neutral, now)
                done[j] = progressed = True
            if not progressed:  # nothing to hang from: the neutral pose as it stands
                out[~done] = neutral[~done]
                break
        self._previous = out.copy()
        self._usable = usable.copy()
        pose = np.ones((NUM_LANDMARKS, 3), dtype=np.float32)
        pose[:, :2] = out
        return pose

    # -- internals ----------------------------------------------------------------------
    def _note_changes(self, usable: np.ndarray, placed: np.ndarray, now: float,
                      prev: np.ndarray | None) -> None:
        snapshot = prev if prev is not None else np.full((NUM_LANDMARKS, 2), np.nan)
        lost = ~usable & (self._usable | np.isnan(self._lost_at))
        back = usable & ~self._usable & np.isfinite(self._lost_at)
        for j in np.flatnonzero(lost):
            self._lost_at[j] = now
            self._held[j] = snapshot
        for j in np.flatnonzero(back):
            by = snapshot[j] - placed[j, :2]
            if np.isfinite(by).all():
                self._back_at[j] = now
                self._back_by[j] = by
        self._lost_at[usable] = np.nan

    @staticmethod
    def _parent(j: int, usable: np.ndarray, done: np.ndarray) -> int | None:
        for p in PARENTS[j]:
            if usable[p]:
                return p
        for p in PARENTS[j]:
            if done[p]:
                return p
        return None

    def _offset(self, j: int, parent: int, neutral: np.ndarray, now: float) -> np.ndarray:
        """Offset of missing joint j from its parent: held, then eased to neutral."""
        rest = neutral[j] - neutral[parent]
        held = self._held[j, j] - self._held[j, parent]
        if not np.isfinite(held).all():
            return rest
        gone = now - self._lost_at[j]
        w = smoothstep((gone - self.hold_seconds) / max(self.ease_seconds, 1e-6))
        return (1 - w) * held + w * rest
