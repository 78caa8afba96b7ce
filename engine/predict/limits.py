"""What a predicted pose may not do: stretch bones, or bend joints past what bodies do.

`BodyLimits.apply(predicted, observed)` rebuilds the predicted pose outward from the torso:

* the torso (shoulders and hips) keeps its observed shape, moved by the rotation and
  translation that best map it onto the predicted torso (least squares);
* each limb joint (elbow, wrist and the hand's points; knee, ankle, heel and toes) is
  placed along the predicted direction from its already placed parent, at the observed
  bone length;
* the face's points move rigidly with the neck (the shoulders' midpoint) and the nose:
  the nose is placed like a limb joint, and the others follow its turn about the neck;
* four signed 2D angles per side are kept within ranges seen in training data: the upper
  arm against the torso's axis (shoulders' midpoint to hips' midpoint), the elbow (the
  forearm against the upper arm), the thigh against the torso's axis (the pelvis's
  orientation in 2D; the line between the hips degenerates when the body turns side-on)
  and the knee (shin against thigh). A range is widened to include the angle observed
  now, so the limits never pull a pose away from what the camera sees.

Joints missing from the observed pose stay missing; a joint whose parent is missing keeps
its prediction. The ranges come from `BodyLimits.from_keypoints` and are stored as JSON;
the shipped ones (`limits.json` beside this module) are computed from the synthetic motion
corpus, mirrored copies included so both sides get the same ranges:

    python -m engine.predict.limits --write [--seeds 0 1 2 3 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.keypoints import LM, MIRROR, NUM_LANDMARKS, visible_mask

log = logging.getLogger(__name__)

SHIPPED_PATH = Path(__file__).resolve().parent / "limits.json"
FORMAT = "dancenow-body-limits"
VERSION = 1
PERCENTILES = (0.5, 99.5)
MARGIN_RAD = 0.15  # added on both sides of the percentile range
MIN_SAMPLES = 50  # fewer angles than this give no range

SIDES = ("left", "right")
TORSO: tuple[int, ...] = (LM["left_shoulder"], LM["right_shoulder"], LM["left_hip"],
                          LM["right_hip"])
_SHOULDERS = (LM["left_shoulder"], LM["right_shoulder"])
_HIPS = (LM["left_hip"], LM["right_hip"])
NOSE = LM["nose"]
FACE: tuple[int, ...] = tuple(range(NOSE, LM["mouth_right"] + 1))
TORSO_AXIS = -1  # a reference "joint": the torso's axis, shoulders' midpoint to hips'


@dataclass(frozen=True)
class Bone:
    """A limb joint placed from its parent; `angle`: the name of the angle it sets, which
    is measured against the bone from `ref` to the parent (or the torso's axis)."""

    child: int
    parent: int
    angle: str | None = None
    ref: int | None = None


def _bones() -> tuple[Bone, ...]:
    bones: list[Bone] = []
    for side in SIDES:
        s = f"{side}_"
        bones += [Bone(LM[s + "elbow"], LM[s + "shoulder"], s + "shoulder", TORSO_AXIS),
                  Bone(LM[s + "wrist"], LM[s + "elbow"], s + "elbow", LM[s + "shoulder"])]
        bones += [Bone(LM[s + hand], LM[s + "wrist"]) for hand in ("pinky", "index", "thumb")]
        bones += [Bone(LM[s + "knee"], LM[s + "hip"], s + "hip", TORSO_AXIS),
                  Bone(LM[s + "ankle"], LM[s + "knee"], s + "knee", LM[s + "hip"])]
        bones += [Bone(LM[s + foot], LM[s + "ankle"]) for foot in ("heel", "foot_index")]
    return tuple(bones)


# Parents before children: placing them in this order walks the tree outward.
BONES: tuple[Bone, ...] = _bones()
ANGLES: tuple[str, ...] = tuple(b.angle for b in BONES if b.angle is not None)


def _wrap(a: np.ndarray | float) -> np.ndarray | float:
    """Angles wrapped into [-pi, pi)."""
    return (np.asarray(a) + math.pi) % (2 * math.pi) - math.pi


def joint_angles(keypoints: np.ndarray) -> dict[str, np.ndarray]:
    """The limited angles (radians, signed, image axes) of `[..., 33, 3]` poses: name ->
    `[...]`, NaN where a joint they need is missing."""
    kp = np.asarray(keypoints, dtype=np.float64)
    xy = np.where(visible_mask(kp)[..., None], kp[..., :2], np.nan)
    axis = xy[..., _HIPS, :].mean(-2) - xy[..., _SHOULDERS, :].mean(-2)
    out: dict[str, np.ndarray] = {}
    for bone in BONES:
        if bone.angle is None:
            continue
        ref = axis if bone.ref == TORSO_AXIS else xy[..., bone.parent, :] - xy[..., bone.ref, :]
        vec = xy[..., bone.child, :] - xy[..., bone.parent, :]
        cross = ref[..., 0] * vec[..., 1] - ref[..., 1] * vec[..., 0]
        dot = (ref * vec).sum(-1)
        out[bone.angle] = np.arctan2(cross, dot)
    return out


@dataclass(frozen=True)
class AngleRange:
    """Angles `center + d` with `d` (wrapped) within `low - center .. high - center`;
    `low` and `high` may lie outside -pi..pi."""

    center: float
    low: float
    high: float

    def clamp(self, angle: float, observed: float | None = None) -> float:
        """`angle` moved into the range, widened to include `observed`."""
        lo, hi = self.low - self.center, self.high - self.center
        if observed is not None and math.isfinite(observed):
            d_obs = float(_wrap(observed - self.center))
            lo, hi = min(lo, d_obs), max(hi, d_obs)
        d = float(_wrap(angle - self.center))
        return self.center + min(max(d, lo), hi)


def angle_range(samples: np.ndarray, percentiles: tuple[float, float] = PERCENTILES,
                margin: float = MARGIN_RAD) -> AngleRange | None:
    """The range of a set of angles: percentiles about their circular mean, widened by
    `margin` on both sides; None for too few samples or a range that covers the circle."""
    a = np.asarray(samples, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size < MIN_SAMPLES:
        return None
    center = math.atan2(float(np.sin(a).mean()), float(np.cos(a).mean()))
    lo, hi = np.percentile(_wrap(a - center), percentiles)
    if hi - lo + 2 * margin >= 2 * math.pi:
        return None
    return AngleRange(center, center + float(lo) - margin, center + float(hi) + margin)


def _rotate(x: float, y: float, c: float, s: float) -> tuple[float, float]:
    return c * x - s * y, s * x + c * y


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


class BodyLimits:
    """Bone lengths and joint-angle ranges imposed on predicted poses (see the module
    docstring). `ranges`: angle name (`ANGLES`) -> range; names left out are not limited."""

    def __init__(self, ranges: dict[str, AngleRange] | None = None,
                 meta: dict[str, object] | None = None) -> None:
        unknown = set(ranges or {}) - set(ANGLES)
        if unknown:
            raise InputError(f"unknown joint angles {sorted(unknown)}; known: {list(ANGLES)}")
        self.ranges: dict[str, AngleRange] = dict(ranges or {})
        self.meta: dict[str, object] = dict(meta or {})

    @classmethod
    def from_keypoints(cls, keypoints: np.ndarray, percentiles: tuple[float, float] = PERCENTILES,
                       margin: float = MARGIN_RAD) -> BodyLimits:
        """Ranges from poses `[T, 33, 3]` (missing joints ignored)."""
        kp = np.asarray(keypoints, dtype=np.float32)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_LANDMARKS, 3):
            raise InputError(f"keypoints must have shape [T, 33, 3], got {list(kp.shape)}")
        ranges = {}
        for name, values in joint_angles(kp).items():
            r = angle_range(values, percentiles, margin)
            if r is not None:
                ranges[name] = r
        return cls(ranges, {"percentiles": list(percentiles), "margin_rad": margin,
                            "poses": int(kp.shape[0])})

    # -- storage --------------------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {"format": FORMAT, "version": VERSION, **self.meta,
                "angles": {name: {"center": r.center, "min": r.low, "max": r.high}
                           for name, r in self.ranges.items()}}

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BodyLimits:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError(f"body limits file not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read body limits file {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError(f"{path} is not a body limits file")
        if data.get("version") != VERSION:
            raise InputError(f"{path}: unsupported body limits version {data.get('version')}")
        try:
            ranges = {name: AngleRange(float(r["center"]), float(r["min"]), float(r["max"]))
                      for name, r in data["angles"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{path}: malformed angle ranges ({exc})") from exc
        meta = {k: v for k, v in data.items() if k not in ("format", "version", "angles")}
        return cls(ranges, meta)

    @classmethod
    def shipped(cls) -> BodyLimits:
        """The ranges shipped with the engine (`limits.json`), loaded once."""
        return _shipped()

    # -- imposing them --------------------------------------------------------------------

    def apply(self, predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """`predicted` `[33, 3]` rebuilt with `observed`'s (the newest pose's) bone lengths
        and torso shape, its angles within the ranges. Visibility is `predicted`'s."""
        pred = np.asarray(predicted, dtype=np.float32)
        obs_xy: list[list[float]] = np.asarray(observed, dtype=np.float64)[:, :2].tolist()
        pred_xy: list[list[float]] = pred[:, :2].astype(np.float64).tolist()
        placed = [list(p) for p in pred_xy]
        self._place_torso(obs_xy, pred_xy, placed)
        sh = [placed[j] for j in _SHOULDERS]
        hp = [placed[j] for j in _HIPS]
        axis = ((hp[0][0] + hp[1][0] - sh[0][0] - sh[1][0]) / 2,
                (hp[0][1] + hp[1][1] - sh[0][1] - sh[1][1]) / 2)
        osh = [obs_xy[j] for j in _SHOULDERS]
        ohp = [obs_xy[j] for j in _HIPS]
        obs_axis = ((ohp[0][0] + ohp[1][0] - osh[0][0] - osh[1][0]) / 2,
                    (ohp[0][1] + ohp[1][1] - osh[0][1] - osh[1][1]) / 2)
        for bone in BONES:
            self._place(bone, obs_xy, pred_xy, placed, axis, obs_axis)
        self._place_face(obs_xy, pred_xy, placed)
        out = pred.copy()
        out[:, :2] = np.asarray(placed, dtype=np.float32)
        return out

    @staticmethod
    def _place_torso(obs: list[list[float]], pred: list[list[float]],
                     placed: list[list[float]]) -> None:
        pts = [j for j in TORSO if _finite(*obs[j], *pred[j])]
        if len(pts) < 2:
            return  # one point or none: its prediction stands
        n = len(pts)
        ox = sum(obs[j][0] for j in pts) / n
        oy = sum(obs[j][1] for j in pts) / n
        px = sum(pred[j][0] for j in pts) / n
        py = sum(pred[j][1] for j in pts) / n
        cross = dot = 0.0
        for j in pts:
            ax, ay = obs[j][0] - ox, obs[j][1] - oy
            bx, by = pred[j][0] - px, pred[j][1] - py
            cross += ax * by - ay * bx
            dot += ax * bx + ay * by
        theta = math.atan2(cross, dot)
        c, s = math.cos(theta), math.sin(theta)
        for j in pts:
            rx, ry = _rotate(obs[j][0] - ox, obs[j][1] - oy, c, s)
            placed[j] = [px + rx, py + ry]

    def _place(self, bone: Bone, obs: list[list[float]], pred: list[list[float]],
               placed: list[list[float]], axis: tuple[float, float],
               obs_axis: tuple[float, float]) -> None:
        c, p = bone.child, bone.parent
        if not _finite(*obs[c], *obs[p], *placed[p], *pred[c]):
            return  # the joint is missing (stays NaN) or hangs from nothing placed
        length = math.hypot(obs[c][0] - obs[p][0], obs[c][1] - obs[p][1])
        dx, dy = pred[c][0] - placed[p][0], pred[c][1] - placed[p][1]
        norm = math.hypot(dx, dy)
        if norm < 1e-9:
            dx, dy = obs[c][0] - obs[p][0], obs[c][1] - obs[p][1]
            norm = max(length, 1e-9)
        dx, dy = dx / norm, dy / norm
        limit = self.ranges.get(bone.angle) if bone.angle is not None else None
        if limit is not None:
            if bone.ref == TORSO_AXIS:
                ref, obs_ref = axis, obs_axis
            else:
                assert bone.ref is not None
                ref = (placed[p][0] - placed[bone.ref][0], placed[p][1] - placed[bone.ref][1])
                obs_ref = (obs[p][0] - obs[bone.ref][0], obs[p][1] - obs[bone.ref][1])
            if _finite(*ref, *obs_ref) and math.hypot(*ref) > 1e-9:
                angle = math.atan2(ref[0] * dy - ref[1] * dx, ref[0] * dx + ref[1] * dy)
                ox, oy = obs[c][0] - obs[p][0], obs[c][1] - obs[p][1]
                observed = (math.atan2(obs_ref[0] * oy - obs_ref[1] * ox,
                                       obs_ref[0] * ox + obs_ref[1] * oy)
                            if math.hypot(*obs_ref) > 1e-9 and length > 1e-9 else None)
                kept = limit.clamp(angle, observed)
                if kept != angle:
                    rn = math.hypot(*ref)
                    dx, dy = _rotate(ref[0] / rn, ref[1] / rn, math.cos(kept), math.sin(kept))
        placed[c] = [placed[p][0] + dx * length, placed[p][1] + dy * length]

    @staticmethod
    def _place_face(obs: list[list[float]], pred: list[list[float]],
                    placed: list[list[float]]) -> None:
        osh = [obs[j] for j in _SHOULDERS]
        psh = [placed[j] for j in _SHOULDERS]
        if not _finite(*osh[0], *osh[1], *psh[0], *psh[1]):
            return  # no neck to hang the head from: the face keeps its prediction
        nx, ny = (osh[0][0] + osh[1][0]) / 2, (osh[0][1] + osh[1][1]) / 2
        qx, qy = (psh[0][0] + psh[1][0]) / 2, (psh[0][1] + psh[1][1]) / 2
        c, s = 1.0, 0.0
        if _finite(*obs[NOSE], *pred[NOSE]):
            a = math.atan2(obs[NOSE][1] - ny, obs[NOSE][0] - nx)
            b = math.atan2(pred[NOSE][1] - qy, pred[NOSE][0] - qx)
            if math.hypot(pred[NOSE][0] - qx, pred[NOSE][1] - qy) > 1e-9:
                c, s = math.cos(b - a), math.sin(b - a)
        for j in FACE:
            if _finite(*obs[j]):
                rx, ry = _rotate(obs[j][0] - nx, obs[j][1] - ny, c, s)
                placed[j] = [qx + rx, qy + ry]


@functools.cache
def _shipped() -> BodyLimits:
    return BodyLimits.load(SHIPPED_PATH)


def mirrored(keypoints: np.ndarray) -> np.ndarray:
    """Poses `[..., 33, 3]` seen in a mirror: x negated, left and right exchanged."""
    kp = np.asarray(keypoints, dtype=np.float32)[..., list(MIRROR), :].copy()
    kp[..., 0] *= -1
    return kp


def corpus_keypoints(motions: Iterable[str], seeds: Iterable[int],
                     seconds: float = 20.0, fps: float = 30.0) -> np.ndarray:
    """True keypoints `[T, 33, 3]` of the synthetic performer doing each motion with each
    seed (whole-body framing)."""
    from synth.clip import ClipSpec, clip_keypoints  # synth is for building data only

    clips = [clip_keypoints(ClipSpec(motion=m, seconds=seconds, fps=fps, seed=s))[:, 0]
             for m in motions for s in seeds]
    return np.concatenate(clips)


def corpus_limits(seeds: Iterable[int] = (0, 1, 2, 3, 4), seconds: float = 20.0,
                  motions: Iterable[str] | None = None) -> BodyLimits:
    """The ranges of the synthetic motion corpus (all motions by default), mirrored
    copies included."""
    from synth.motions import motion_names

    motions = list(motions) if motions is not None else motion_names()
    seeds = list(seeds)
    kp = corpus_keypoints(motions, seeds, seconds)
    limits = BodyLimits.from_keypoints(np.concatenate([kp, mirrored(kp)]))
    limits.meta.update({"source": "synthetic performer (synth.motions), mirrored copies "
                                  "included", "motions": motions, "seeds": seeds,
                        "seconds": seconds})
    return limits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compute the joint-angle ranges of the "
                                     "synthetic motion corpus.")
    parser.add_argument("--write", action="store_true",
                        help=f"write them to --out (default {SHIPPED_PATH.name} beside this "
                             "module); without it they are only logged")
    parser.add_argument("--out", type=Path, default=SHIPPED_PATH)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--seconds", type=float, default=20.0, help="per motion and seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    limits = corpus_limits(args.seeds, args.seconds)
    for name, r in limits.ranges.items():
        log.info("%-15s %7.1f .. %7.1f deg", name, math.degrees(r.low), math.degrees(r.high))
    if args.write:
        log.info("wrote %s", limits.save(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
