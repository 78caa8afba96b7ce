"""The room behind the actors: the standard picture kept, other cameras world-consistent."""

from __future__ import annotations

import numpy as np

from synth.appearance import get_actor
from synth.body import Camera
from synth.framing import Framing
from synth.room import RoomCanvas, room, standard_room

APP = get_actor("target")


def test_standard_camera_gets_the_standard_room() -> None:
    np.testing.assert_array_equal(room(APP, Camera.for_size(320, 180)),
                                  standard_room(APP, 320, 180))


def test_panning_shifts_the_wall_with_the_camera() -> None:
    a = Camera(width=400, height_px=240, focal=500.0, center=0.3)
    b = Camera(width=400, height_px=240, focal=500.0, center=0.3 + 40 / 400)
    ra, rb = room(APP, a).astype(int), room(APP, b).astype(int)
    # The texture is fixed to the wall: b's picture is a's moved 40 px to the right.
    assert np.abs(rb[:, 40:] - ra[:, :-40]).max() <= 1
    assert np.abs(ra[:, 1:] - ra[:, :-1]).max() > 0  # and there is a texture to move


def test_wall_above_floor_and_no_floor_in_the_desk_view() -> None:
    full = room(APP, Framing("full", 360, 640).camera_at(0.0)).astype(float)
    floor, wall_bottom = np.array(APP.floor, float), np.array(APP.wall_bottom, float)
    assert np.abs(full[-5:].mean(axis=(0, 1)) - floor * 1.1).max() < 12
    desk = room(APP, Framing("desk", 640, 360).camera_at(0.0)).astype(float)
    bottom = desk[-5:].mean(axis=(0, 1))
    assert np.abs(bottom - floor).max() > np.abs(bottom - wall_bottom).max()


def test_zoom_canvas_matches_the_room_rendered_for_each_view() -> None:
    framing = Framing("zoom", 640, 360, place_x=0.4)
    canvas = RoomCanvas(APP, framing.widest())
    for t in (0.0, 2.75, 4.0):
        cam = framing.camera_at(t)
        view = canvas.view(cam).astype(int)
        assert view.shape == (360, 640, 3) and view.flags.writeable
        direct = room(APP, cam).astype(int)
        assert np.abs(view - direct).mean() < 2.0
