"""Draw an actor from 2D landmark positions.

Everything is placed from the 33 landmarks alone (plus the metres-to-pixels scale),
so an actor renders the same whether its pose came from the procedural motions or
from keypoints retargeted out of another video. Drawing uses anti-aliased OpenCV
primitives with sub-pixel coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.keypoints import LM
from synth.appearance import RGB, Appearance
from synth.room import standard_room

_SHIFT = 4
_ONE = 1 << _SHIFT


def _fix(p: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(p, dtype=np.float64) * _ONE).astype(np.int32)


def _fill_poly(img: np.ndarray, pts: np.ndarray, color: RGB) -> None:
    cv2.fillPoly(img, [_fix(pts).reshape(-1, 1, 2)], color, cv2.LINE_AA, _SHIFT)


def _disc(img: np.ndarray, c: np.ndarray, r: float, color: RGB) -> None:
    cv2.circle(img, tuple(_fix(c).tolist()), max(int(round(r * _ONE)), 1), color, -1,
               cv2.LINE_AA, _SHIFT)


def _ellipse(img: np.ndarray, c: np.ndarray, axes: tuple[float, float], angle_deg: float,
             color: RGB, thickness: int = -1) -> None:
    ax = (max(int(round(axes[0] * _ONE)), 1), max(int(round(axes[1] * _ONE)), 1))
    cv2.ellipse(img, tuple(_fix(c).tolist()), ax, angle_deg, 0, 360, color, thickness,
                cv2.LINE_AA, _SHIFT)


def _capsule(img: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float,
             color: RGB) -> None:
    """A limb segment: discs at both ends joined by their outer tangents."""
    _disc(img, a, ra, color)
    _disc(img, b, rb, color)
    d = b - a
    n = np.linalg.norm(d)
    if n < 1e-6:
        return
    normal = np.array([-d[1], d[0]]) / n
    _fill_poly(img, np.array([a + normal * ra, b + normal * rb, b - normal * rb,
                              a - normal * ra]), color)


def _shade(color: RGB, factor: float) -> RGB:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in color)  # type: ignore[return-value]


def _pattern(app: Appearance, uv: np.ndarray) -> np.ndarray:
    """Mix weight 0..1 of the pattern colour at torso coordinates `uv` (metres)."""
    p = app.pattern_period
    u, v = uv[..., 0] / p, uv[..., 1] / p
    if app.shirt_pattern == "stripes":
        return 0.5 + 0.5 * np.tanh(3.0 * np.sin(2 * np.pi * v))
    if app.shirt_pattern == "checks":
        a = np.tanh(3.0 * np.sin(2 * np.pi * u))
        b = np.tanh(3.0 * np.sin(2 * np.pi * v))
        return 0.5 + 0.5 * a * b
    if app.shirt_pattern == "dots":
        du, dv = u - np.round(u), v - np.round(v)
        return np.clip((0.28 - np.sqrt(du * du + dv * dv)) * 12.0, 0, 1)
    return np.zeros(u.shape)


# Pattern samples per period at least; a pattern drawn larger (close-ups, big frames) is
# evaluated on a coarser grid and interpolated, which keeps big frames fast.
_SAMPLES_PER_PERIOD = 20


def _pattern_over(app: Appearance, box: tuple[int, int, int, int], origin: np.ndarray,
                  right: np.ndarray, up: np.ndarray, scale: float) -> np.ndarray:
    """Pattern weight `[y1 - y0, x1 - x0]` over the pixels of `box` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    step = int(scale * app.pattern_period / _SAMPLES_PER_PERIOD)
    if step <= 1:
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    else:
        # Sample where cv2.resize puts the coarse pixels' centres, so the result lines up.
        w, h = x1 - x0, y1 - y0
        nw, nh = max(-(-w // step), 2), max(-(-h // step), 2)
        ys, xs = np.meshgrid((y0 + (np.arange(nh) + 0.5) * h / nh - 0.5).astype(np.float32),
                             (x0 + (np.arange(nw) + 0.5) * w / nw - 0.5).astype(np.float32),
                             indexing="ij")
    rel = np.stack([xs - origin[0], ys - origin[1]], axis=-1) / scale
    uv = np.stack([rel @ right, rel @ up], axis=-1)
    mix = _pattern(app, uv)
    if step <= 1:
        return mix
    return cv2.resize(mix.astype(np.float32), (x1 - x0, y1 - y0),
                      interpolation=cv2.INTER_LINEAR)


def _textured_poly(img: np.ndarray, pts: np.ndarray, app: Appearance, origin: np.ndarray,
                   right: np.ndarray, up: np.ndarray, scale: float) -> None:
    """Fill a polygon with the shirt colour and its pattern, fixed to the torso frame."""
    h, w = img.shape[:2]
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [_fix(pts - [x0, y0]).reshape(-1, 1, 2)], 255, cv2.LINE_AA, _SHIFT)
    mix = _pattern_over(app, (x0, y0, x1, y1), origin, right, up, scale)[..., None]
    cloth = np.array(app.shirt, np.float32) * (1 - mix) + np.array(app.pattern_color,
                                                                   np.float32) * mix
    alpha = mask[..., None].astype(np.float32) / 255.0
    region = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = (region * (1 - alpha) + cloth * alpha + 0.5).astype(np.uint8)


def _ok(*points: np.ndarray) -> bool:
    return all(np.all(np.isfinite(p)) for p in points)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([0.0, -1.0])


def facing(kp: np.ndarray, app: Appearance, scale: float) -> float:
    """How far the head is turned, -1..1; positive means the body's left is turned away."""
    nose, lear, rear = kp[LM["nose"]], kp[LM["left_ear"]], kp[LM["right_ear"]]
    if not _ok(nose, lear, rear):
        return 0.0
    mid = (lear + rear) / 2
    return float(np.clip((nose[0] - mid[0]) / (app.body.head_radius * scale), -1.0, 1.0))


def _draw_leg(img: np.ndarray, kp: np.ndarray, side: str, app: Appearance,
              scale: float) -> None:
    hip, knee, ankle = (kp[LM[f"{side}_{j}"]] for j in ("hip", "knee", "ankle"))
    heel, toe = kp[LM[f"{side}_heel"]], kp[LM[f"{side}_foot_index"]]
    r = app.body.leg_radius * scale
    if _ok(hip, knee):
        _capsule(img, hip, knee, r, r * 0.82, app.trousers)
    if _ok(knee, ankle):
        _capsule(img, knee, ankle, r * 0.82, r * 0.6, _shade(app.trousers, 0.95))
    if _ok(ankle, heel, toe):
        _capsule(img, heel, toe, r * 0.55, r * 0.45, app.shoes)
        _capsule(img, ankle, (heel + toe) / 2, r * 0.55, r * 0.55, app.shoes)


def _draw_arm(img: np.ndarray, kp: np.ndarray, side: str, app: Appearance,
              scale: float) -> None:
    sh, el, wr = (kp[LM[f"{side}_{j}"]] for j in ("shoulder", "elbow", "wrist"))
    r = app.body.arm_radius * scale
    sleeve = app.shirt
    if _ok(sh, el):
        if app.long_sleeves:
            _capsule(img, sh, el, r * 1.1, r * 0.95, sleeve)
        else:
            _capsule(img, sh, el, r, r * 0.9, app.skin)
            mid = sh + (el - sh) * 0.45
            _capsule(img, sh, mid, r * 1.2, r * 1.1, sleeve)
    if _ok(el, wr):
        colour = sleeve if app.long_sleeves else app.skin
        _capsule(img, el, wr, r * 0.9 if not app.long_sleeves else r * 0.95, r * 0.7,
                 _shade(colour, 0.97))
        if app.long_sleeves:
            cuff = el + (wr - el) * 0.85
            _capsule(img, cuff, wr, r * 0.7, r * 0.65, app.skin)
    hand_pts = [kp[LM[f"{side}_{j}"]] for j in ("index", "pinky", "thumb")]
    if _ok(wr, *hand_pts):
        tip = (hand_pts[0] + hand_pts[1]) / 2
        _capsule(img, wr, tip, r * 0.75, r * 0.6, _shade(app.skin, 0.95))
        _capsule(img, wr, hand_pts[2], r * 0.35, r * 0.3, _shade(app.skin, 0.9))


def _draw_torso(img: np.ndarray, kp: np.ndarray, app: Appearance, scale: float) -> None:
    ls, rs, lh, rh = (kp[LM[n]] for n in ("left_shoulder", "right_shoulder", "left_hip",
                                          "right_hip"))
    if not _ok(ls, rs, lh, rh):
        return
    b = app.body
    mid_hip, mid_sh = (lh + rh) / 2, (ls + rs) / 2
    up = _unit(mid_sh - mid_hip)
    right = np.array([-up[1], up[0]])  # image-right when upright
    # Body-left is +right when facing the camera, but the landmarks say which side is which.
    lr = _unit(ls - rs) if np.linalg.norm(ls - rs) > 1e-6 else right
    hip_span = np.linalg.norm(lh - rh) / max(b.hip_width * scale, 1e-6)
    squeeze = float(np.clip(hip_span, 0.35, 1.0))  # narrower when turned sideways
    waist = b.waist_half_width * scale * squeeze
    pelvis_r = b.leg_radius * scale
    # Trousers: a pelvis block joining both thighs up to the waist.
    waist_l = mid_hip + lr * waist + up * 0.06 * scale
    waist_r = mid_hip - lr * waist + up * 0.06 * scale
    crotch = mid_hip - up * 0.10 * scale
    _fill_poly(img, np.array([waist_r, waist_l, lh + lr * pelvis_r, lh - up * pelvis_r,
                              crotch, rh - up * pelvis_r, rh - lr * pelvis_r]), app.trousers)
    # Shirt: shoulders (rounded by the arm radius) down to just below the waist.
    ar = b.arm_radius * scale
    top_l = ls + up * ar * 0.8
    top_r = rs + up * ar * 0.8
    outer_l = ls + lr * ar * 1.05 - up * ar * 0.3
    outer_r = rs - lr * ar * 1.05 - up * ar * 0.3
    hem_l = mid_hip + lr * waist * 1.04 + up * 0.02 * scale
    hem_r = mid_hip - lr * waist * 1.04 + up * 0.02 * scale
    neck_l = (ls + rs) / 2 + lr * 0.06 * scale + up * ar * 0.9
    neck_r = (ls + rs) / 2 - lr * 0.06 * scale + up * ar * 0.9
    poly = np.array([neck_r, top_r, outer_r, hem_r, hem_l, outer_l, top_l, neck_l])
    _textured_poly(img, poly, app, mid_hip, right, -up, scale)


def _draw_head(img: np.ndarray, kp: np.ndarray, app: Appearance, scale: float,
               turn: float) -> None:
    lear, rear = kp[LM["left_ear"]], kp[LM["right_ear"]]
    eyes_l, eyes_r = kp[LM["left_eye"]], kp[LM["right_eye"]]
    mouth_l, mouth_r = kp[LM["mouth_left"]], kp[LM["mouth_right"]]
    nose = kp[LM["nose"]]
    if not _ok(lear, rear, eyes_l, eyes_r, mouth_l, mouth_r, nose):
        return
    r = app.body.head_radius * scale
    up = _unit((eyes_l + eyes_r) / 2 - (mouth_l + mouth_r) / 2)
    center = (lear + rear) / 2 - up * 0.05 * r
    angle = np.degrees(np.arctan2(up[0], -up[1]))
    ls, rs = kp[LM["left_shoulder"]], kp[LM["right_shoulder"]]
    if _ok(ls, rs):
        _capsule(img, (ls + rs) / 2, center - up * r * 0.5, r * 0.42, r * 0.4,
                 _shade(app.skin, 0.9))
    back = -turn * r * 0.35
    side = np.array([up[1] * -1.0, up[0]])  # image-right of the head's up vector
    if app.hair_style == "long":
        _fill_poly(img, np.array([center + up * r * 0.2 - side * r * 1.05,
                                  center + up * r * 0.2 + side * r * 1.05,
                                  center - up * r * 1.7 + side * (r * 1.15 + back),
                                  center - up * r * 1.7 - side * (r * 1.15 - back)]), app.hair)
    _ellipse(img, center, (r * 0.86, r * 1.05), angle, app.skin)
    # Ears show on the side that faces the camera.
    for ear, s in ((lear, 1.0), (rear, -1.0)):
        if turn * s < 0.55:
            _ellipse(img, ear, (r * 0.14, r * 0.24), angle, _shade(app.skin, 0.9))
    # Eyes, brows, nose and mouth sit on their landmarks.
    eye_r = r * 0.13
    for eye, s in ((eyes_l, 1.0), (eyes_r, -1.0)):
        if turn * s > 0.8:
            continue
        _ellipse(img, eye, (eye_r * 1.3, eye_r * 0.85), angle, (245, 245, 245))
        _disc(img, eye + side * turn * eye_r * 0.4, eye_r * 0.6, app.eyes)
        brow = eye + up * r * 0.26
        cv2.line(img, tuple(_fix(brow - side * eye_r * 1.4).tolist()),
                 tuple(_fix(brow + side * eye_r * 1.4 + up * eye_r * 0.2 * s).tolist()),
                 app.brows, max(int(round(r * 0.09)), 1), cv2.LINE_AA, _SHIFT)
    _ellipse(img, nose, (r * 0.1, r * 0.12), angle, _shade(app.skin, 0.8))
    mid_mouth = (mouth_l + mouth_r) / 2 - up * r * 0.06
    pts = np.array([mouth_r, mid_mouth, mouth_l])
    cv2.polylines(img, [_fix(pts).reshape(-1, 1, 2)], False, app.mouth,
                  max(int(round(r * 0.1)), 1), cv2.LINE_AA, _SHIFT)
    # Hair on top, shifted away from where the face turns.
    cap_c = center + up * r * 0.45 - side * turn * r * 0.25
    _ellipse(img, cap_c, (r * 0.95, r * 0.62), angle, app.hair)
    if app.hair_style == "bun":
        _disc(img, center + up * r * 1.15, r * 0.35, app.hair)


def draw_actor(img: np.ndarray, app: Appearance, kp: np.ndarray, scale: float) -> None:
    """Draw `app` posed at landmarks `kp` (`[33, >=2]` pixels) onto `img`, in place.

    `scale` is pixels per metre at the body (sets limb widths). Parts whose landmarks
    are missing (NaN) are not drawn; parts outside the image are clipped.
    """
    kp = np.asarray(kp, dtype=np.float64)[:, :2]
    turn = facing(kp, app, scale)
    far, near = ("left", "right") if turn > 0 else ("right", "left")
    arms_behind = abs(turn) > 0.35
    if arms_behind:
        _draw_arm(img, kp, far, app, scale)
    _draw_leg(img, kp, far, app, scale)
    _draw_leg(img, kp, near, app, scale)
    _draw_torso(img, kp, app, scale)
    _draw_head(img, kp, app, scale, turn)
    if not arms_behind:
        _draw_arm(img, kp, far, app, scale)
    _draw_arm(img, kp, near, app, scale)


def render_actor(app: Appearance, kp: np.ndarray, scale: float, width: int,
                 height: int) -> np.ndarray:
    """An RGB frame of `app` posed at landmarks `kp` in its room, as the standard camera
    of a `width` x `height` frame sees it (see `draw_actor`)."""
    img = standard_room(app, width, height).copy()
    draw_actor(img, app, kp, scale)
    return img
