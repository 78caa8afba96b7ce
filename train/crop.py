"""One square crop window per clip, centred on the person, and cutting frames through it.

Real footage comes in any aspect (9:16 phones held upright, 16:9 rooms with the person
in a corner, 4:3), while training wants S x S frames. A fixed centred square cuts the
head, feet or hands out of many of them. Instead, the window is chosen from the poses
estimated on the whole source frames:

* the person's extent is a robust union of the visible joints over the clip (a low and
  a high percentile of the per-frame extremes, so that one stray detection does not
  stretch it), grown by a margin for the head top, hands and feet (a share of the
  body's height), and kept within the source frame, where the pixels are;
* the side is the larger of that extent's width and height; along the other axis the
  window is centred on the person and moved back inside the frame where it can be;
* where the person does not fit a square inside the frame, the square reaches past the
  frame and that part is padded with a constant colour.

The window is the same for every frame of a clip, so the camera does not move.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.keypoints import visible_mask

MARGIN = 0.1  # share of the body's height added around the joints (head top, hands, feet)
EXTENT_PERCENTILES = (1.0, 99.0)  # robust union of the per-frame extremes over the clip
MIN_SIDE = 16  # pixels: a window never shrinks below this


def square_crop(width: int, height: int) -> tuple[int, int, int]:
    """(x0, y0, side) of the centred square crop of a frame (used when a clip shows
    nobody, so there is no person to centre on)."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


@dataclass(frozen=True)
class CropWindow:
    """A square in source pixels; it may reach past the frame (that part is padded)."""

    x0: int
    y0: int
    side: int

    def to_dict(self, frame_size: tuple[int, int]) -> dict:
        left, top, right, bottom = self.padding(frame_size)
        return {"x0": self.x0, "y0": self.y0, "side": self.side,
                "padding": {"left": left, "top": top, "right": right, "bottom": bottom}}

    def padding(self, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """Pixels of the window past the frame's (left, top, right, bottom) edges."""
        width, height = frame_size
        return (max(0, -self.x0), max(0, -self.y0), max(0, self.x0 + self.side - width),
                max(0, self.y0 + self.side - height))

    def map_points(self, pose: np.ndarray, size: int) -> np.ndarray:
        """A copy of `pose` (`[..., 33, 3]`, source pixels) in the `size` x `size` output."""
        out = np.array(pose, dtype=np.float32, copy=True)
        s = size / self.side
        out[..., 0] = (out[..., 0] - self.x0) * s
        out[..., 1] = (out[..., 1] - self.y0) * s
        return out


def person_extent(poses: np.ndarray, frame_size: tuple[int, int], margin: float = MARGIN
                  ) -> tuple[int, int, int, int] | None:
    """(x_lo, y_lo, x_hi, y_hi) in source pixels around the person over the clip, margin
    included and kept within the frame; None when no frame shows a person."""
    kp = np.asarray(poses, dtype=np.float64)
    seen = visible_mask(kp, frame_size)
    person = seen.any(axis=1)
    if not person.any():
        return None
    x = np.where(seen, kp[..., 0], np.nan)[person]
    y = np.where(seen, kp[..., 1], np.nan)[person]
    lo_q, hi_q = EXTENT_PERCENTILES
    x_lo, x_hi = np.percentile(np.nanmin(x, axis=1), lo_q), np.percentile(np.nanmax(x, axis=1),
                                                                           hi_q)
    y_lo, y_hi = np.percentile(np.nanmin(y, axis=1), lo_q), np.percentile(np.nanmax(y, axis=1),
                                                                           hi_q)
    body = float(np.median(np.nanmax(y, axis=1) - np.nanmin(y, axis=1)))
    pad = margin * body
    width, height = frame_size
    # Past the frame there are no pixels of the person to keep: the margin stops there.
    return (int(np.floor(max(x_lo - pad, 0.0))), int(np.floor(max(y_lo - pad, 0.0))),
            int(np.ceil(min(x_hi + pad, width))), int(np.ceil(min(y_hi + pad, height))))


def _place(lo: int, hi: int, side: int, dim: int) -> int:
    """Start of a `side` window along an axis of length `dim` that holds [lo, hi]:
    centred on it, moved toward lying inside the frame (or, when wider than the frame,
    toward covering all of it) as far as [lo, hi] allows."""
    start = (lo + hi - side) // 2
    a, b = (0, dim - side) if side <= dim else (dim - side, 0)
    start = min(max(start, a), b)
    return min(max(start, hi - side), lo)


def choose_window(poses: np.ndarray, frame_size: tuple[int, int],
                  margin: float = MARGIN) -> CropWindow:
    """The clip's crop window from its poses `[T, 33, 3]` in source pixels (see the
    module docstring); the centred square when no frame shows a person."""
    width, height = frame_size
    extent = person_extent(poses, frame_size, margin)
    if extent is None:
        return CropWindow(*square_crop(width, height))
    x_lo, y_lo, x_hi, y_hi = extent
    side = max(x_hi - x_lo, y_hi - y_lo, MIN_SIDE)
    return CropWindow(_place(x_lo, x_hi, side, width), _place(y_lo, y_hi, side, height), side)


def border_fill(frame: np.ndarray) -> tuple[int, int, int]:
    """The median colour of a frame's outermost rows and columns: the padding colour."""
    edge = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    r, g, b = (int(v) for v in np.median(edge, axis=0))
    return r, g, b


def cut_window(frame: np.ndarray, window: CropWindow, size: int,
               fill: tuple[int, int, int]) -> np.ndarray:
    """The window's square of an HxWx3 frame, padded where it reaches past the frame,
    resized to `size` x `size`.

    The padding is one constant colour (the frame's border colour), not the frame's edge
    pixels repeated: repeating them would smear whatever touches the edge (a foot or a
    hand cut by the frame) into stripes that change with the pose, which the generator
    would then learn to draw; a constant band is the same in every frame and costs it
    nothing, and taking the border's colour keeps the seam faint.
    """
    height, width = frame.shape[:2]
    left, top, right, bottom = window.padding((width, height))
    x0, y0 = max(window.x0, 0), max(window.y0, 0)
    x1, y1 = min(window.x0 + window.side, width), min(window.y0 + window.side, height)
    square = frame[y0:y1, x0:x1]
    if left or top or right or bottom:
        square = cv2.copyMakeBorder(square, top, bottom, left, right, cv2.BORDER_CONSTANT,
                                    value=fill)
    interp = cv2.INTER_AREA if window.side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)
