"""How far the avatar's motion trails the performer's, found from the motion itself.

Inputs, per received avatar frame: when it arrived (or was shown) and the pose found on
it again (BlazePose on the avatar frame, avatar pixels); and the performer's true motion:
the true pose of every camera frame with the time it was sent.

* The performer's true pose at any time `t` is interpolated between the camera frames
  sent around `t` (`TrueMotion`).
* The avatar's pose is the performer's under the server's normalization: a scale and a
  shift (`Mapping`), fitted by least squares over the frames.
* **Motion lag**: the time shift `tau` for which the avatar's poses best match the true
  poses at `arrival - tau` (median over the frames of the mean joint distance, a parabola
  through the best three shifts for the minimum). Without prediction it is the
  end-to-end delay; with it, near zero.
* A pose found with its left and right limbs swapped (BlazePose does this on a body
  turned away) is compared side for side as found: that is the detector's mistake, not
  the avatar's.
* **Error at display time**: per frame, the distance between the avatar's pose and the
  true pose at the moment the frame arrived (mean over the 12 limb joints, a fraction of
  the avatar's body height).
* **Smoothness**: the avatar's joint acceleration per frame (the second difference of
  its poses over consecutive frames, fraction of the height) and the frames' temporal
  roughness (mean absolute second difference of the pixels over consecutive frames, in
  0..1: a flicker measure that needs no reference video; smooth motion scores low, jitter
  and popping high).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.keypoints import LIMB_JOINTS, LM

SHIFTS_S = np.arange(-0.15, 0.40001, 0.005)  # the time shifts tried
CONSECUTIVE = 1.6  # frames further apart than this many median intervals are not consecutive


@dataclass(frozen=True)
class TrueMotion:
    """The performer's true limb joints `[F, 12, 2]` at the times `[F]` they were sent."""

    times: np.ndarray
    joints: np.ndarray

    @classmethod
    def from_timeline(cls, times: np.ndarray, counts: np.ndarray,
                      truth: np.ndarray) -> TrueMotion:
        """Camera frames sent at `times`, the `counts`-th frame each, of a clip whose true
        poses `truth` `[F, 33, 3]` play in a loop."""
        order = np.argsort(times)
        poses = truth[np.asarray(counts)[order] % len(truth)]
        return cls(np.asarray(times, np.float64)[order],
                   poses[:, LIMB_JOINTS, :2].astype(np.float64))

    def at(self, t: np.ndarray) -> np.ndarray:
        """`[N, 12, 2]` true joints at times `t` (linear between sent frames; NaN outside
        the span)."""
        t = np.asarray(t, np.float64)
        flat = self.joints.reshape(len(self.times), -1)
        out = np.stack([np.interp(t, self.times, flat[:, k], left=np.nan, right=np.nan)
                        for k in range(flat.shape[1])], axis=-1)
        return out.reshape(len(t), len(LIMB_JOINTS), 2)


def true_height(truth: np.ndarray) -> float:
    """Median body height (nose to the lower ankle) of `[F, 33, 3]` poses, pixels."""
    ankles = np.nanmax(truth[:, [LM["left_ankle"], LM["right_ankle"]], 1], axis=1)
    return float(np.nanmedian(ankles - truth[:, LM["nose"], 1]))


@dataclass(frozen=True)
class Mapping:
    """avatar = scale * performer + shift (pixels)."""

    scale: float
    shift: np.ndarray

    @classmethod
    def fit(cls, performer: np.ndarray, avatar: np.ndarray) -> Mapping:
        """Least squares over `[N, J, 2]` pairs (rows with a NaN left out)."""
        ok = np.isfinite(performer).all(axis=(1, 2)) & np.isfinite(avatar).all(axis=(1, 2))
        p, a = performer[ok].reshape(-1, 2), avatar[ok].reshape(-1, 2)
        if len(p) < 2:
            return cls(float("nan"), np.full(2, np.nan))
        pm, am = p.mean(axis=0), a.mean(axis=0)
        scale = float(((p - pm) * (a - am)).sum() / ((p - pm) ** 2).sum())
        return cls(scale, am - scale * pm)

    def __call__(self, performer: np.ndarray) -> np.ndarray:
        return self.scale * performer + self.shift


# LIMB_JOINTS lists each joint's left then right: this order swaps the sides
SWAPPED = [i + 1 if i % 2 == 0 else i - 1 for i in range(len(LIMB_JOINTS))]


def frame_errors(avatar: np.ndarray, expected: np.ndarray, height: float) -> np.ndarray:
    """Per frame, the mean limb joint distance between `[N, 12, 2]` poses / `height`,
    the sides of `avatar` swapped where that matches better (see the module doc)."""
    straight = np.linalg.norm(avatar - expected, axis=-1).mean(axis=-1)
    swapped = np.linalg.norm(avatar[:, SWAPPED] - expected, axis=-1).mean(axis=-1)
    return np.fmin(straight, swapped) / height


def _best_shift(errors: np.ndarray) -> float:
    """The shift of least error, refined with a parabola through its neighbours."""
    i = int(np.nanargmin(errors))
    if 0 < i < len(errors) - 1 and np.isfinite(errors[i - 1:i + 2]).all():
        a, b, c = errors[i - 1:i + 2]
        curve = a - 2 * b + c
        if curve > 0:
            step = SHIFTS_S[1] - SHIFTS_S[0]
            return float(SHIFTS_S[i] + 0.5 * (a - c) / curve * step)
    return float(SHIFTS_S[i])


def error_by_shift(motion: TrueMotion, arrivals: np.ndarray, avatar: np.ndarray,
                   mapping: Mapping | None, height: float) -> np.ndarray:
    """Median error for every shift in SHIFTS_S (the mapping fitted per shift if None)."""
    out = []
    for tau in SHIFTS_S:
        truth = motion.at(arrivals - tau)
        m = mapping or Mapping.fit(truth, avatar)
        e = frame_errors(avatar, m(truth), height * m.scale)
        out.append(np.nanmedian(e) if np.isfinite(e).any() else np.nan)
    return np.asarray(out)


def consecutive(arrivals: np.ndarray) -> np.ndarray:
    """Boolean `[N]`: frame i and the frames before and after it came at a steady pace
    (so that second differences over them mean something)."""
    ok = np.zeros(len(arrivals), bool)
    if len(arrivals) < 3:
        return ok
    gaps = np.diff(arrivals)
    limit = CONSECUTIVE * float(np.median(gaps))
    ok[1:-1] = (gaps[:-1] <= limit) & (gaps[1:] <= limit)
    return ok


def joint_acceleration(avatar: np.ndarray, arrivals: np.ndarray, height: float) -> np.ndarray:
    """Per frame with steady neighbours: mean limb joint |second difference| / height."""
    ok = consecutive(arrivals)
    acc = np.full(len(avatar), np.nan)
    second = avatar[2:] - 2 * avatar[1:-1] + avatar[:-2]
    acc[1:-1] = np.linalg.norm(second, axis=-1).mean(axis=-1) / height
    acc[~ok] = np.nan
    return acc


def roughness(images: list[np.ndarray], arrivals: np.ndarray) -> np.ndarray:
    """Per frame with steady neighbours: mean |I(t+1) - 2 I(t) + I(t-1)| / 255."""
    ok = consecutive(arrivals)
    out = np.full(len(images), np.nan)
    for i in np.flatnonzero(ok):
        a, b, c = (images[j].astype(np.int16) for j in (i - 1, i, i + 1))
        out[i] = float(np.abs(c - 2 * b + a).mean() / 255.0)
    return out


def _pct(values: np.ndarray, q: float) -> float | None:
    values = values[np.isfinite(values)]
    return round(float(np.percentile(values, q)), 5) if len(values) else None


def measure(motion: TrueMotion, height_px: float, arrivals: np.ndarray, avatar: np.ndarray,
            groups: dict[str, np.ndarray], images: list[np.ndarray] | None = None,
            reference: str = "off") -> dict:
    """Lag, error at display time and smoothness per group of frames (boolean masks over
    the received frames, e.g. prediction off and on). The mapping is fitted on the
    `reference` group at its own best shift, and used for every group: one normalization,
    measured where the avatar is least disturbed by prediction.

    `height_px`: the performer's body height (true poses, pixels); `avatar` `[N, 12, 2]`
    limb joints found on the avatar frames (NaN where not found)."""
    found = np.isfinite(avatar).all(axis=(1, 2))
    ref = groups[reference] & found
    fitted = error_by_shift(motion, arrivals[ref], avatar[ref], None, height_px)
    ref_shift = _best_shift(fitted)
    mapping = Mapping.fit(motion.at(arrivals[ref] - ref_shift), avatar[ref])
    height = height_px * mapping.scale  # the avatar's body height, pixels
    acc_all = joint_acceleration(avatar, arrivals, height)
    rough_all = roughness(images, arrivals) if images is not None else None
    out: dict[str, dict] = {"mapping": {"scale": round(mapping.scale, 4),
                                        "shift": [round(float(v), 1) for v in mapping.shift],
                                        "avatar_height_px": round(height, 1)}}
    for name, mask in groups.items():
        sel = mask & found
        if sel.sum() < 10:
            out[name] = {"frames": int(sel.sum())}
            continue
        by_shift = error_by_shift(motion, arrivals[sel], avatar[sel], mapping, height_px)
        now = frame_errors(avatar[sel], mapping(motion.at(arrivals[sel])), height)
        acc = acc_all[sel]
        row = {"frames": int(sel.sum()), "found": round(float(found[mask].mean()), 3),
               "lag_ms": round(_best_shift(by_shift) * 1e3, 1),
               "error_at_lag": round(float(np.nanmin(by_shift)), 5),
               "error_p50": _pct(now, 50), "error_p95": _pct(now, 95),
               "acceleration_mean": (round(float(np.nanmean(acc)), 5)
                                     if np.isfinite(acc).any() else None),
               "acceleration_p95": _pct(acc, 95)}
        if rough_all is not None:
            r = rough_all[mask]
            row["roughness_mean"] = (round(float(np.nanmean(r)), 6) if np.isfinite(r).any()
                                     else None)
        out[name] = row
    return out
