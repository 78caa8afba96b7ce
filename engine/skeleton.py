"""Label maps: keypoints rendered as the generator's input.

A label map is a stick figure on black: one colour per bone (an OpenPose-like palette),
limb thickness relative to the output resolution, thinner lines for the face detail
from BlazePose's face points. A joint that is missing (NaN, or visibility below the
threshold) draws none of its bones.

Two implementations draw the same picture:

* `render_label_map_reference`: readable OpenCV drawing into an HxWx3 uint8 image,
  then conversion to the generator's float16 NCHW tensor in [-1, 1].
* `render_label_map`: the fused C++ kernel in `engine._native`, which rasterizes the
  bones straight into the float16 NCHW tensor (no intermediate image, no transpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from engine.keypoints import LM, MIN_VISIBILITY

# Virtual points appended after the 33 landmarks: index 33 + i is the midpoint of a pair.
MIDPOINTS: tuple[tuple[int, int], ...] = (
    (LM["left_shoulder"], LM["right_shoulder"]),  # 33: neck base
    (LM["left_hip"], LM["right_hip"]),  # 34: pelvis
)
NECK, PELVIS = 33, 34


def _b(a: str | int, b: str | int) -> tuple[int, int]:
    return (LM[a] if isinstance(a, str) else a, LM[b] if isinstance(b, str) else b)


# Body bones, drawn in this order (later bones paint over earlier ones).
BODY_BONES: tuple[tuple[int, int], ...] = (
    _b(NECK, PELVIS),
    _b("left_shoulder", "right_shoulder"),
    _b("left_hip", "right_hip"),
    _b("right_hip", "right_knee"), _b("right_knee", "right_ankle"),
    _b("right_ankle", "right_heel"), _b("right_heel", "right_foot_index"),
    _b("right_ankle", "right_foot_index"),
    _b("left_hip", "left_knee"), _b("left_knee", "left_ankle"),
    _b("left_ankle", "left_heel"), _b("left_heel", "left_foot_index"),
    _b("left_ankle", "left_foot_index"),
    _b("right_shoulder", "right_elbow"), _b("right_elbow", "right_wrist"),
    _b("right_wrist", "right_index"), _b("right_wrist", "right_pinky"),
    _b("right_wrist", "right_thumb"),
    _b("left_shoulder", "left_elbow"), _b("left_elbow", "left_wrist"),
    _b("left_wrist", "left_index"), _b("left_wrist", "left_pinky"),
    _b("left_wrist", "left_thumb"),
    _b(NECK, "nose"),
)  # fmt: skip

# Face detail, thinner, drawn over the body.
FACE_BONES: tuple[tuple[int, int], ...] = (
    _b("nose", "right_eye_inner"), _b("right_eye_inner", "right_eye"),
    _b("right_eye", "right_eye_outer"), _b("right_eye_outer", "right_ear"),
    _b("nose", "left_eye_inner"), _b("left_eye_inner", "left_eye"),
    _b("left_eye", "left_eye_outer"), _b("left_eye_outer", "left_ear"),
    _b("mouth_right", "mouth_left"),
)  # fmt: skip

BONES: tuple[tuple[int, int], ...] = BODY_BONES + FACE_BONES


def _palette(n: int) -> np.ndarray:
    """n saturated colours around the hue circle (OpenPose-like), uint8 RGB `[n, 3]`."""
    hsv = np.zeros((1, n, 3), np.uint8)
    hsv[0, :, 0] = (np.arange(n) * 180 // n).astype(np.uint8)
    hsv[0, :, 1] = 255
    hsv[0, :, 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]


BONE_COLORS: np.ndarray = np.concatenate([
    _palette(len(BODY_BONES)),
    # Face lines in light tones so they read apart from the limbs.
    (255 - (255 - _palette(len(FACE_BONES)).astype(np.int32)) // 3).astype(np.uint8),
])  # fmt: skip


@dataclass(frozen=True)
class LabelMapStyle:
    """Line widths and the visibility threshold for one output size."""

    body_radius: float  # half the limb thickness, pixels
    face_radius: float  # half the face-line thickness, pixels
    min_visibility: float = MIN_VISIBILITY  # joints below this count as missing

    @classmethod
    def for_size(cls, height: int, min_visibility: float = MIN_VISIBILITY) -> LabelMapStyle:
        """Limbs 2.4% of the frame height thick, face lines 1% (at least 1 pixel)."""
        return cls(body_radius=max(0.012 * height, 1.0), face_radius=max(0.005 * height, 0.5),
                   min_visibility=min_visibility)

    def radii(self) -> np.ndarray:
        return np.array([self.body_radius] * len(BODY_BONES) + [self.face_radius] *
                        len(FACE_BONES), dtype=np.float32)


def transform_points(kp: np.ndarray, scale: tuple[float, float] = (1.0, 1.0),
                     offset: tuple[float, float] = (0.0, 0.0),
                     min_visibility: float = MIN_VISIBILITY) -> np.ndarray:
    """Landmarks plus virtual points, `[35, 2]` in output pixels; NaN where missing."""
    kp = np.asarray(kp, dtype=np.float32)
    xy = kp[:, :2] * np.asarray(scale, np.float32) + np.asarray(offset, np.float32)
    missing = ~(kp[:, 2] >= min_visibility) | ~np.isfinite(xy).all(axis=1)
    xy[missing] = np.nan
    mids = np.array([(xy[a] + xy[b]) / 2 for a, b in MIDPOINTS], dtype=np.float32)
    return np.concatenate([xy, mids])


def render_label_image(kp: np.ndarray, width: int, height: int,
                       scale: tuple[float, float] = (1.0, 1.0),
                       offset: tuple[float, float] = (0.0, 0.0),
                       style: LabelMapStyle | None = None) -> np.ndarray:
    """The stick figure as an HxWx3 uint8 RGB image (the readable reference drawing)."""
    style = style or LabelMapStyle.for_size(height)
    pts = transform_points(kp, scale, offset, style.min_visibility)
    img = np.zeros((height, width, 3), np.uint8)
    shift = 4
    for (a, b), color, radius in zip(BONES, BONE_COLORS, style.radii(), strict=True):
        pa, pb = pts[a], pts[b]
        if not (np.isfinite(pa).all() and np.isfinite(pb).all()):
            continue
        cv2.line(img, tuple(np.round(pa * 16).astype(np.int32).tolist()),
                 tuple(np.round(pb * 16).astype(np.int32).tolist()),
                 tuple(int(c) for c in color), max(int(round(2 * radius)), 1),
                 cv2.LINE_AA, shift)
    return img


def image_to_tensor(img: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> float16 `[1, 3, H, W]` in [-1, 1] (black is -1)."""
    chw = img.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    return chw[None].astype(np.float16)


def render_label_map_reference(kp: np.ndarray, width: int, height: int,
                               scale: tuple[float, float] = (1.0, 1.0),
                               offset: tuple[float, float] = (0.0, 0.0),
                               style: LabelMapStyle | None = None) -> np.ndarray:
    """Reference label map tensor: OpenCV drawing, then the separate conversion."""
    return image_to_tensor(render_label_image(kp, width, height, scale, offset, style))


@lru_cache(maxsize=1)
def _native_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bones = np.ascontiguousarray(np.array(BONES, dtype=np.int32))
    colors = np.ascontiguousarray(BONE_COLORS.astype(np.float32) / 127.5 - 1.0)
    mids = np.ascontiguousarray(np.array(MIDPOINTS, dtype=np.int32))
    return bones, colors, mids


# How far OpenCV's anti-aliased edges reach past the geometric outline, in pixels, measured
# against cv2 5.1 (`cv2.line`, LINE_AA, shift=4): the polygon along the bone (half-width
# ceil(t / 2) for thickness t) by ~0.7, the round caps (radius t / 2) by ~0.6. Together
# with the kernel's 1.5-pixel smoothstep edge ramp this matched OpenCV best of the models
# tried; a plain clamp(r + 0.5 - d) capsule of the style's radius had ~9x the mean error
# and ~12x the figure pixels off by more than 32 levels, at 256 and 512.
_CV_EDGE_GROW = 0.7
_CV_CAP_GROW = 0.6
# Thickness 1 is OpenCV's thin line: about 1.4 pixels wide, no caps, ending at the points.
_CV_THIN_LINE = (0.7, 0.0, 0.1)


def _cv_thickness(radius: float) -> int:
    """The `thickness` `render_label_image` passes to `cv2.line` for a radius."""
    return max(int(round(2 * radius)), 1)


@lru_cache(maxsize=32)
def _native_radii(style: LabelMapStyle) -> np.ndarray:
    """Per-bone `(half_width, cap_radius, end_pad)`, float32 `[B, 3]`, mimicking OpenCV."""
    rows = []
    for radius in style.radii():
        t = _cv_thickness(float(radius))
        if t == 1:
            rows.append(_CV_THIN_LINE)
        else:
            rows.append(((t + t % 2) / 2 + _CV_EDGE_GROW, t / 2 + _CV_CAP_GROW, _CV_EDGE_GROW))
    table = np.ascontiguousarray(np.array(rows, dtype=np.float32))
    table.flags.writeable = False  # shared by every call
    return table


@lru_cache(maxsize=8)
def _default_style(height: int) -> LabelMapStyle:
    return LabelMapStyle.for_size(height)


def render_label_map(kp: np.ndarray, width: int, height: int,
                     scale: tuple[float, float] = (1.0, 1.0),
                     offset: tuple[float, float] = (0.0, 0.0),
                     style: LabelMapStyle | None = None,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Label map tensor, float16 `[1, 3, H, W]` in [-1, 1], from the fused native kernel.

    Draws the same picture as `render_label_map_reference` (up to anti-aliasing detail)
    without the intermediate uint8 image or the conversion pass. `kp` is `[33, 3]` (x px,
    y px, visibility) or `[33, 2]`; points are mapped by `kp * scale + offset`. Pass a
    preallocated float16 `[1, 3, height, width]` C-contiguous `out` to reuse it: every
    pixel is overwritten and `out` itself is returned. Raises ValueError for a wrong `out`
    or keypoint shape.
    """
    from engine import _native  # built by `make install`; imported lazily for the reference

    style = style or _default_style(height)
    shape = (1, 3, height, width)
    if out is None:
        out = np.empty(shape, dtype=np.float16)
    elif out.shape != shape or out.dtype != np.float16:
        raise ValueError(f"out must be float16 {shape}, got {out.dtype} {out.shape}")
    bones, colors, mids = _native_tables()
    _native.render_label_map(np.ascontiguousarray(kp, dtype=np.float32), out, bones, colors,
                             _native_radii(style), mids, float(scale[0]), float(scale[1]),
                             float(offset[0]), float(offset[1]), float(style.min_visibility))
    return out


def tensor_to_image(tensor: np.ndarray) -> np.ndarray:
    """float `[1, 3, H, W]` or `[3, H, W]` in [-1, 1] -> HxWx3 uint8 (for viewing)."""
    t = np.asarray(tensor, dtype=np.float32)
    if t.ndim == 4:
        t = t[0]
    return np.clip((t.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def fit_square(frame_size: tuple[int, int],
               size: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Scale and offset that fit a `(width, height)` frame's height into a `size` square,
    centred horizontally."""
    width, height = frame_size
    s = size / float(height)
    return (s, s), ((size - width * s) / 2.0, 0.0)
