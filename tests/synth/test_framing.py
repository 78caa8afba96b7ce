"""Camera framings: views of the reference image plane, the zoom's timing and path."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import InputError
from synth.body import Camera
from synth.framing import (
    REFERENCE_ROWS,
    ZOOM_TIMING,
    Framing,
    View,
    desk_view,
    full_view,
    zoom_view,
)


@pytest.mark.parametrize("size", [(512, 512), (256, 256), (640, 360), (1920, 1080), (640, 480)])
def test_full_centred_framing_is_the_standard_camera(size) -> None:
    # Square and landscape clips of the whole body keep exactly today's picture.
    assert Framing("full", *size).camera_at(3.0) == Camera.for_size(*size)


def test_portrait_full_framing_fits_the_reference_width() -> None:
    cam = Framing("full", 360, 640).camera_at(0.0)
    assert cam.focal == pytest.approx(Camera.focal * 360 / 512)
    # The reference frame is centred vertically: its horizon row moves down by the margin.
    assert cam.horizon * 640 == pytest.approx((640 - 360) / 2 + Camera.horizon * 360)


def test_desk_view_is_a_zoom_in_of_the_full_view() -> None:
    full, desk = full_view(1280, 720), desk_view(1280, 720)
    assert desk.span > 1.8 * full.span
    assert desk.top < 0  # the top of the reference frame is above the desk frame


def _window(view: View, height: int) -> tuple[float, float]:
    """Reference rows at the top and bottom edges of a frame `height` high."""
    k = view.span / REFERENCE_ROWS
    return -view.top / k, (height - view.top) / k


def test_zoom_view_runs_from_wide_to_close_inside_the_wide_window() -> None:
    wide, close = full_view(640, 360), desk_view(640, 360)
    assert zoom_view(wide, close, 0.0) == wide and zoom_view(wide, close, 1.0) == close
    top_w, bottom_w = _window(wide, 360)
    previous = wide.span
    for c in np.linspace(0.05, 0.95, 19):
        view = zoom_view(wide, close, float(c))
        top, bottom = _window(view, 360)
        assert top_w - 1e-6 <= top and bottom <= bottom_w + 1e-6
        assert view.span > previous  # zooms in monotonically
        previous = view.span


def test_zoom_timing_holds_eases_and_repeats() -> None:
    t = ZOOM_TIMING
    assert t.period == pytest.approx(7.0)
    assert t.closeness(0.0) == 0.0 and t.closeness(t.wide - 0.01) == 0.0
    assert t.closeness(t.wide + t.zoom_in + 0.1) == 1.0
    assert t.closeness(t.period + 0.5) == t.closeness(0.5)
    times = np.arange(0, 2 * t.period, 0.001)
    c = np.array([t.closeness(float(x)) for x in times])
    assert np.abs(np.diff(c)).max() < 0.002  # continuous: no jumps
    inbound = c[(times > t.wide) & (times < t.wide + t.zoom_in)]
    assert (np.diff(inbound) >= 0).all()


def test_place_x_moves_the_principal_point() -> None:
    for name in ("full", "desk", "zoom"):
        cam = Framing(name, 1280, 720, place_x=0.25).camera_at(2.5)
        world_origin = np.array([[0.0, 1.0, -3.6]])
        assert cam.project(world_origin)[0][0, 0] == pytest.approx(320.0)


def test_unknown_framing() -> None:
    with pytest.raises(InputError, match="unknown framing"):
        Framing("wide", 640, 360)
