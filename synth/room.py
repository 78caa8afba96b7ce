"""The room behind the actors, as any camera sees it.

`standard_room` is the picture of a frame's standard camera (`Camera.for_size`), kept
exactly as clips (and the avatars trained on them) have always had it. `room` renders
any other camera in the same world: the wall's shade follows the height on the wall,
the floor's the distance from the camera, and the plaster texture is fixed to the
wall, so that panning and zooming move it like a real one. `RoomCanvas` serves a
camera that zooms: the widest view rendered once, each frame an affine warp of it
(a pinhole camera that only zooms and shifts its image plane sees a scaled copy).
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import cv2
import numpy as np

from synth.appearance import Appearance
from synth.body import Camera

WALL_DEPTH = 7.0  # metres from the camera to the back wall
_REFERENCE = Camera.for_size(512, 512)
# Height on the wall (m) at the top row of the standard picture, where the wall's
# gradient starts, and the nearest floor distance (m) that the standard picture shows.
_WALL_TOP = _REFERENCE.height + _REFERENCE.horizon * 512 * WALL_DEPTH / _REFERENCE.focal
_FLOOR_NEAR = _REFERENCE.focal * _REFERENCE.height / ((1 - _REFERENCE.horizon) * 512)
_PLASTER_CELL = 16 * WALL_DEPTH / _REFERENCE.focal  # metres on the wall per texture cell
_PLASTER_GRID = (160, 240)  # texture cells (rows, columns); reflected beyond
_PLASTER_TOP = 15.0  # metres: the grid's top row on the wall; its columns are centred
_PLASTER_AMPLITUDE = 4.0  # grey levels


@lru_cache(maxsize=8)
def standard_room(app: Appearance, width: int, height: int) -> np.ndarray:
    """A room: graded wall, a floor from the wall's foot, a soft fixed plaster texture.

    The texture is seeded from the actor's name with a stable hash, so every process
    renders the same room; it varies over tens of pixels, like a wall, not per pixel
    like sensor noise.
    """
    cam = Camera.for_size(width, height)
    floor_row = cam.horizon * height + cam.focal * cam.height / WALL_DEPTH
    rows = np.arange(height, dtype=np.float32)[:, None]
    t = np.clip(rows / max(floor_row, 1.0), 0, 1)
    top, bottom, floor = (np.array(c, dtype=np.float32) for c in
                          (app.wall_top, app.wall_bottom, app.floor))
    wall = top * (1 - t[..., None]) + bottom * t[..., None]
    # The floor gets lighter toward the camera.
    f = np.clip((rows - floor_row) / max(height - floor_row, 1.0), 0, 1)[..., None]
    floor_img = floor * (0.85 + 0.25 * f)
    img = np.where((rows >= floor_row)[..., None], floor_img, wall)
    img = np.broadcast_to(img, (height, width, 3)).copy()
    rng = np.random.default_rng(zlib.crc32(app.name.encode()))
    coarse = rng.normal(0, 1.0, (max(height // 16, 2), max(width // 16, 2))).astype(np.float32)
    plaster = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    img = np.clip(img + _PLASTER_AMPLITUDE * plaster, 0, 255).round().astype(np.uint8)
    img.setflags(write=False)
    return img


@lru_cache(maxsize=4)
def _plaster(name: str) -> np.ndarray:
    """The wall's texture: one standard normal value per cell, fixed by the actor's name."""
    rng = np.random.default_rng(zlib.crc32(f"{name}/wall".encode()))
    grid = rng.normal(0, 1.0, _PLASTER_GRID).astype(np.float32)
    grid.setflags(write=False)
    return grid


def _render(app: Appearance, cam: Camera) -> np.ndarray:
    """The room through `cam`, in closed form (see the module's docstring)."""
    width, height, focal = cam.width, cam.height_px, cam.focal
    row0, col0 = cam.horizon * height, cam.center * width
    rows = np.arange(height, dtype=np.float64)[:, None]
    wall_y = cam.height - (rows - row0) * WALL_DEPTH / focal  # height on the wall
    t = np.clip((_WALL_TOP - wall_y) / _WALL_TOP, 0, 1)
    top, bottom, floor = (np.array(c, dtype=np.float64) for c in
                          (app.wall_top, app.wall_bottom, app.floor))
    wall = top * (1 - t) + bottom * t
    inv_dist = (rows - row0) / (focal * cam.height)  # 1 / distance of the floor seen there
    near = np.clip((inv_dist - 1 / WALL_DEPTH) / (1 / _FLOOR_NEAR - 1 / WALL_DEPTH), 0, 1)
    colour = np.where(inv_dist >= 1 / WALL_DEPTH, floor * (0.85 + 0.25 * near), wall)
    grid = _plaster(app.name)
    rows_n, cols_n = grid.shape
    gain = focal * _PLASTER_CELL / WALL_DEPTH  # frame pixels per texture cell
    left = -cols_n / 2 * _PLASTER_CELL
    warp = np.array([[gain, 0.0, col0 + focal * left / WALL_DEPTH],
                     [0.0, gain, row0 - focal * (_PLASTER_TOP - cam.height) / WALL_DEPTH]])
    plaster = cv2.warpAffine(grid, warp, (width, height), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_REFLECT)
    img = colour.astype(np.float32)[:, None, :] + _PLASTER_AMPLITUDE * plaster[..., None]
    return np.clip(img, 0, 255).round().astype(np.uint8)


@lru_cache(maxsize=8)
def room(app: Appearance, cam: Camera) -> np.ndarray:
    """The room of `app` through `cam` (read-only; copy before drawing on it)."""
    if cam == Camera.for_size(cam.width, cam.height_px):
        return standard_room(app, cam.width, cam.height_px)
    img = _render(app, cam)
    img.setflags(write=False)
    return img


class RoomCanvas:
    """The room for a camera that zooms and pans: its widest view, warped per frame.

    Every camera passed to `view` must differ from `widest` only in focal length and
    principal point, and show no more of the room than it does.
    """

    def __init__(self, app: Appearance, widest: Camera) -> None:
        self.camera = widest
        self.image = room(app, widest)

    def view(self, cam: Camera) -> np.ndarray:
        """A writable picture of the room through `cam`."""
        if cam == self.camera:
            return self.image.copy()
        src = self.camera
        ratio = cam.focal / src.focal
        warp = np.array([
            [ratio, 0.0, cam.center * cam.width - ratio * src.center * src.width],
            [0.0, ratio, cam.horizon * cam.height_px - ratio * src.horizon * src.height_px],
        ])
        return cv2.warpAffine(self.image, warp, (cam.width, cam.height_px),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
