"""Pose coverage of a target's footage: how much of what performers do it shows.

A generator only learns the poses it sees. This report measures, from the prepared
keypoints `[T, 33, 3]` alone (pure numpy), what the target's footage covers:

* per limb (upper arms, forearms, thighs, shins; each side) the directions it points in:
  the 5th..95th percentile of its angle and the fraction of the circle it visits. Angles
  are in degrees in the picture: 0 = pointing straight down, 90 = out to the person's
  own side, 180 = straight up, negative = across the body;
* the share of frames with a wrist above the head, crouching, turned sideways, and one
  leg lifted;
* warnings for what is missing or rare, saying what the avatar will then get wrong.

Joints count only where `engine.keypoints.visible_mask` says they are there.
"""

from __future__ import annotations

import numpy as np

from engine.keypoints import LM, visible_mask

SIDES = ("left", "right")
# (report name, joint at the limb's root, joint at its end)
LIMBS: tuple[tuple[str, str, str], ...] = (
    ("upper_arm", "shoulder", "elbow"),
    ("forearm", "elbow", "wrist"),
    ("thigh", "hip", "knee"),
    ("shin", "knee", "ankle"),
)
ARM_LIMBS = ("upper_arm", "forearm")

ANGLE_BINS = 36  # 10-degree sectors for the fraction of the circle a limb visits
SECTOR_MIN_FRAMES = 1  # a sector counts as visited with at least this many frames...
SECTOR_MIN_SHARE = 0.005  # ...and this share of the limb's frames (a stray frame in a long clip
# does not count)
PERCENTILES = (5.0, 95.0)

CROUCH_RATIO = 0.75  # hip-to-ankle height below this share of the clip's standing value
STANDING_PERCENTILE = 90.0  # the clip's standing hip-to-ankle height (over torso length)
SIDEWAYS_RATIO = 0.35  # shoulder width below this share of the torso length
LIFT_RATIO = 0.25  # one ankle higher than the other by this share of the hip-to-ankle height

RARE_SHARE = 0.03  # a pose kind in fewer frames than this share is "rare"
MIN_SEEN_SHARE = 0.5  # a limb seen in fewer frames than this share is "mostly missing"
MIN_ARM_SPAN = 90.0  # degrees: arms whose 5th..95th percentile range is narrower move little
MIN_LEG_SPAN = 30.0  # degrees: legs move less than arms; narrower than this, hardly at all

# pose kind -> (what it is, what the avatar gets wrong without it)
POSE_KINDS: dict[str, tuple[str, str]] = {
    "arms_up": ("with a wrist above the head", "raised arms"),
    "crouching": ("crouching", "squats and bends"),
    "sideways": ("turned sideways", "turns and side views"),
    "leg_lifted": ("with a leg lifted", "kicks and lifted knees"),
}


def _joint(kp: np.ndarray, seen: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(xy `[T, 2]` with NaN where missing, there `[T]`) of one landmark."""
    i = LM[name]
    xy = np.where(seen[:, i, None], kp[:, i, :2], np.nan)
    return xy, seen[:, i]


def limb_angles(keypoints: np.ndarray, side: str, root: str, end: str) -> np.ndarray:
    """Angle in degrees per frame of the bone `side_root -> side_end` (see the module
    docstring for the convention); NaN where either joint is missing."""
    kp = np.asarray(keypoints, dtype=np.float64)
    seen = visible_mask(kp)
    a, _ = _joint(kp, seen, f"{side}_{root}")
    b, _ = _joint(kp, seen, f"{side}_{end}")
    d = b - a
    outward = d[:, 0] if side == "left" else -d[:, 0]  # the person's left is the image's right
    return _wrap(np.degrees(np.arctan2(outward, d[:, 1])))


def circular_percentiles(angles: np.ndarray, q: tuple[float, float] = PERCENTILES
                         ) -> tuple[float, float]:
    """Percentiles of angles (degrees) along the circle: the circle is cut at the widest
    empty gap, so a range through straight up (+-180) stays one range. Results are in
    (-180, 180]; the first may be larger than the second when the range wraps."""
    a = np.sort(np.mod(np.asarray(angles, dtype=np.float64), 360.0))
    if a.size == 0:
        return float("nan"), float("nan")
    gaps = np.diff(np.r_[a, a[0] + 360.0])
    start = a[(int(np.argmax(gaps)) + 1) % a.size]  # the first angle after the widest gap
    unwrapped = np.mod(a - start, 360.0) + start
    lo, hi = np.percentile(unwrapped, q)
    return float(_wrap(lo)), float(_wrap(hi))


def _wrap(deg: np.ndarray | float) -> np.ndarray:
    """Degrees into (-180, 180] (so -180, straight up, reads 180)."""
    return 180.0 - np.mod(180.0 - np.asarray(deg, dtype=np.float64), 360.0) + 0.0


def circle_fraction(angles: np.ndarray) -> float:
    """Share of the 10-degree sectors that the angles visit (see SECTOR_MIN_*)."""
    a = np.asarray(angles, dtype=np.float64)
    if a.size == 0:
        return 0.0
    sector = (np.mod(a, 360.0) // (360.0 / ANGLE_BINS)).astype(int) % ANGLE_BINS
    counts = np.bincount(sector, minlength=ANGLE_BINS)
    need = max(SECTOR_MIN_FRAMES, int(np.ceil(SECTOR_MIN_SHARE * a.size)))
    return float((counts >= need).sum() / ANGLE_BINS)


def _limb_entry(angles: np.ndarray, frames: int) -> dict:
    ok = np.isfinite(angles)
    a = angles[ok]
    lo, hi = circular_percentiles(a)
    span = float(np.mod(hi - lo, 360.0)) if a.size else float("nan")
    return {"seen": round(float(ok.sum()) / max(frames, 1), 4),
            "p5": _rounded(lo), "p95": _rounded(hi), "span": _rounded(span),
            "circle": round(circle_fraction(a), 4)}


def _rounded(v: float) -> float | None:
    return None if not np.isfinite(v) else round(float(v), 1)


def _mid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a + b) / 2.0


def pose_kinds(keypoints: np.ndarray, video: np.ndarray | None = None
               ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per pose kind (POSE_KINDS): (shown `[T]`, judged `[T]`), where `judged` marks the
    frames whose joints allow the call. `video` `[T]` groups frames by clip for the
    clip's standing value (one clip when None)."""
    kp = np.asarray(keypoints, dtype=np.float64)
    seen = visible_mask(kp)
    nose, nose_ok = _joint(kp, seen, "nose")
    j = {f"{s}_{p}": _joint(kp, seen, f"{s}_{p}")
         for s in SIDES for p in ("shoulder", "wrist", "hip", "ankle")}
    with np.errstate(invalid="ignore"):
        wrists_y = np.stack([j["left_wrist"][0][:, 1], j["right_wrist"][0][:, 1]], axis=1)
        wrist_ok = j["left_wrist"][1] | j["right_wrist"][1]
        arms_up = nose_ok & (np.nanmin(np.where(np.isfinite(wrists_y), wrists_y, np.inf),
                                       axis=1) < nose[:, 1])
        arms_judged = nose_ok & wrist_ok

        torso_ok = (j["left_shoulder"][1] & j["right_shoulder"][1] & j["left_hip"][1]
                    & j["right_hip"][1])
        shoulder_mid = _mid(j["left_shoulder"][0], j["right_shoulder"][0])
        hip_mid = _mid(j["left_hip"][0], j["right_hip"][0])
        torso = np.linalg.norm(shoulder_mid - hip_mid, axis=1)
        torso_ok &= torso > 0
        shoulder_width = np.linalg.norm(j["left_shoulder"][0] - j["right_shoulder"][0], axis=1)
        sideways = torso_ok & (shoulder_width < SIDEWAYS_RATIO * torso)

        ankles_ok = j["left_ankle"][1] & j["right_ankle"][1]
        ankle_y = np.stack([j["left_ankle"][0][:, 1], j["right_ankle"][0][:, 1]], axis=1)
        low = ankle_y.max(axis=1)
        high = ankle_y.min(axis=1)
        leg_height = low - hip_mid[:, 1]  # hip to the standing (lower) ankle, pixels
        legs_judged = torso_ok & ankles_ok & (leg_height > 0)
        lifted = legs_judged & (low - high > LIFT_RATIO * leg_height)

        ratio = np.where(legs_judged, leg_height / np.where(torso > 0, torso, np.nan), np.nan)
    groups = np.zeros(len(kp), np.int64) if video is None else np.asarray(video)
    crouching = np.zeros(len(kp), bool)
    for g in np.unique(groups):
        member = (groups == g) & legs_judged
        if not member.any():
            continue
        standing = np.percentile(ratio[member], STANDING_PERCENTILE)
        crouching |= member & (ratio < CROUCH_RATIO * standing)
    return {"arms_up": (arms_up, arms_judged), "crouching": (crouching, legs_judged),
            "sideways": (sideways, torso_ok), "leg_lifted": (lifted, legs_judged)}


def coverage_report(keypoints: np.ndarray, video: np.ndarray | None = None) -> dict:
    """The coverage report (JSON-ready) of the frames of `keypoints` that show a person."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (len(LM), 3):
        raise ValueError(f"keypoints must be [T, 33, 3], got {list(kp.shape)}")
    person = visible_mask(kp).any(axis=1)
    kp = kp[person]
    video = None if video is None else np.asarray(video)[person]
    n = len(kp)
    limbs = {f"{side}_{name}": _limb_entry(limb_angles(kp, side, root, end), n)
             for name, root, end in LIMBS for side in SIDES}
    poses = {}
    for key, (shown, judged) in pose_kinds(kp, video).items():
        poses[key] = {"frames": int(shown.sum()), "judged": int(judged.sum()),
                      "share": round(float(shown.sum()) / max(n, 1), 4)}
    report = {"frames": n, "limbs": limbs, "poses": poses}
    report["warnings"] = coverage_warnings(report)
    return report


def _plural(name: str) -> str:
    return name.replace("_", " ") + "s"


def coverage_warnings(report: dict) -> list[str]:
    """What the footage misses or shows rarely, and what the avatar will get wrong."""
    n = report["frames"]
    if n == 0:
        return ["no frame shows a person: nothing to learn from"]
    out = []
    for name, _, _ in LIMBS:
        entries = {s: report["limbs"][f"{s}_{name}"] for s in SIDES}
        seen = min(e["seen"] for e in entries.values())
        if seen < MIN_SEEN_SHARE:
            shares = ", ".join(f"{e['seen']:.0%} ({s})" for s, e in entries.items())
            out.append(f"the {_plural(name)} are seen in only {shares} of the frames: "
                       "the avatar will guess them")
            continue
        least = min(e["span"] for e in entries.values())
        need = MIN_ARM_SPAN if name in ARM_LIMBS else MIN_LEG_SPAN
        if least < need:
            ranges = ", ".join(f"{_range_text(e)} ({s})" for s, e in entries.items())
            out.append(f"the {_plural(name)} only point within {ranges}: poses beyond "
                       "that will be poor")
    for key, (what, fails) in POSE_KINDS.items():
        entry = report["poses"][key]
        if entry["frames"] == 0:
            out.append(f"no frame {what}: the avatar will fail on {fails}")
        elif entry["share"] < RARE_SHARE:
            out.append(f"only {entry['frames']} frames ({entry['share']:.1%}) {what}: "
                       f"the avatar will be weak on {fails}")
    return out


def _range_text(entry: dict) -> str:
    if entry["p5"] is None:
        return "-"
    return f"{entry['p5']:.0f}..{entry['p95']:.0f} deg"


def format_coverage(report: dict) -> str:
    """A short readable table of the report, then its warnings."""
    n = report["frames"]
    lines = [f"pose coverage ({n} frames with a person; angles: 0 down, 90 out to the side, "
             "180 up)",
             f"  {'limb':<16}{'seen':>6}  {'5th..95th pct':>16}{'circle':>8}"]
    for key, e in report["limbs"].items():
        lines.append(f"  {key.replace('_', ' '):<16}{e['seen']:>6.0%}  "
                     f"{_range_text(e):>16}{e['circle']:>8.0%}")
    lines.append(f"  {'pose':<22}{'frames':>8}{'share':>8}")
    for key, (what, _) in POSE_KINDS.items():
        e = report["poses"][key]
        label = what.removeprefix("with a ")
        lines.append(f"  {label:<22}{e['frames']:>8}{e['share']:>8.1%}")
    warnings = report.get("warnings", [])
    lines.append("warnings:" if warnings else "warnings: none")
    lines.extend(f"  - {w}" for w in warnings)
    return "\n".join(lines)
