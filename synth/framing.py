"""Camera framings: how much of the room a camera shows and where the actor stands in it.

Every framing is the reference camera (`Camera.for_size(512, 512)`, the picture the
actors were designed in) with its image plane zoomed and shifted. A `View` says how
many frame pixels the reference frame's 512 rows span and on which frame row its top
row lands; the actor's root (world X = 0) lands on column `place_x * width`. Zooming
and shifting the image plane is changing the focal length and the principal point, so
the projected keypoints, the pixels-per-metre scale and the room all follow from the
`Camera` that a view gives.

* `full`: the whole body. In square and landscape frames the reference rows fill the
  height (for a centred actor exactly the standard camera of the frame); in portrait
  frames they fill the width, so that arms stretched out stay in view.
* `desk`: a laptop webcam at a desk. At the actors' usual distance the frame shows
  from `DESK_TOP` down to `DESK_BOTTOM` metres above the floor: head to hips, the hips
  near the bottom edge, knees and feet below the frame.
* `zoom`: `full`, then a smooth zoom in to `desk`, a hold, and back out, repeating
  (`ZOOM_TIMING`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import InputError
from synth.body import Camera
from synth.motions import MID_DEPTH, ease

REFERENCE_ROWS = 512  # rows of the reference frame
REFERENCE = Camera.for_size(REFERENCE_ROWS, REFERENCE_ROWS)

DESK_TOP = 1.85  # metres above the floor at the desk frame's top edge, at DESK_DEPTH
DESK_BOTTOM = 0.78  # ... and at its bottom edge: below the hips, above the knees
DESK_DEPTH = MID_DEPTH

FRAMINGS: dict[str, str] = {
    "full": "the whole body",
    "desk": "a laptop webcam at a desk: head to hips, knees and feet below the frame",
    "zoom": "the whole body, zooming in to the desk view and back out, repeating",
}
ASPECTS: dict[str, float] = {"full": 1.0, "desk": 16 / 9, "zoom": 16 / 9}  # default w / h


@dataclass(frozen=True)
class ZoomTiming:
    """One cycle of the `zoom` framing, in seconds; the clip starts on the whole body."""

    wide: float = 2.0  # whole body in view
    zoom_in: float = 1.5  # eased zoom to the desk view
    close: float = 2.0  # desk view
    zoom_out: float = 1.5  # eased zoom back to the whole body

    @property
    def period(self) -> float:
        return self.wide + self.zoom_in + self.close + self.zoom_out

    def closeness(self, t: float) -> float:
        """0 on the whole body, 1 on the desk view, eased (smoothstep) in between."""
        t = t % self.period
        if t < self.wide:
            return 0.0
        t -= self.wide
        if t < self.zoom_in:
            return ease(t / self.zoom_in)
        t -= self.zoom_in
        if t < self.close:
            return 1.0
        return 1.0 - ease((t - self.close) / self.zoom_out)


ZOOM_TIMING = ZoomTiming()


@dataclass(frozen=True)
class View:
    """Where the reference image plane lands in a frame: reference row r lands on frame
    row `top + r * span / 512`, and columns scale by the same factor."""

    span: float  # frame pixels spanned by the reference frame's 512 rows
    top: float  # frame row of the reference frame's top row

    def camera(self, width: int, height: int, place_x: float) -> Camera:
        """The camera that films this view, the actor's root at column `place_x * width`."""
        return Camera(width=width, height_px=height,
                      focal=Camera.focal * self.span / REFERENCE_ROWS,
                      horizon=self.top / height + Camera.horizon * (self.span / height),
                      center=place_x)


def full_view(width: int, height: int) -> View:
    """The whole body: the reference frame fitted inside the frame, centred vertically."""
    span = float(min(width, height))
    return View(span=span, top=(height - span) / 2)


def _reference_row(y: float, depth: float) -> float:
    """Row of the reference frame where a point `y` metres above the floor appears."""
    return REFERENCE.horizon * REFERENCE_ROWS - REFERENCE.focal * (y - REFERENCE.height) / depth


def desk_view(width: int, height: int) -> View:
    """Head to hips: `DESK_TOP` on the top edge and `DESK_BOTTOM` on the bottom edge."""
    del width  # the desk framing is set by the height; the width shows what it shows
    top, bottom = _reference_row(DESK_TOP, DESK_DEPTH), _reference_row(DESK_BOTTOM, DESK_DEPTH)
    span = height * REFERENCE_ROWS / (bottom - top)
    return View(span=span, top=-top * span / REFERENCE_ROWS)


def zoom_view(wide: View, close: View, closeness: float) -> View:
    """The view `closeness` (0..1) of the way from `wide` to `close`.

    The zoom is about the one reference row that both views put on the same frame row
    (the centre of the homothety between them), geometric in scale, so the picture
    zooms like a lens and the windows in between stay inside the wide one.
    """
    if closeness <= 0.0:
        return wide
    if closeness >= 1.0:
        return close
    span = wide.span * (close.span / wide.span) ** closeness
    ratio_gap = (wide.span - close.span) / REFERENCE_ROWS
    if abs(ratio_gap) < 1e-9:
        return View(span=span, top=wide.top + (close.top - wide.top) * closeness)
    fixed_row = (close.top - wide.top) / ratio_gap  # reference row that does not move
    fixed_at = wide.top + wide.span / REFERENCE_ROWS * fixed_row
    return View(span=span, top=fixed_at - span / REFERENCE_ROWS * fixed_row)


@dataclass(frozen=True)
class Framing:
    """A framing of a `width` x `height` frame, the actor's root at `place_x` of the width."""

    name: str
    width: int
    height: int
    place_x: float = 0.5
    timing: ZoomTiming = field(default_factory=ZoomTiming)

    def __post_init__(self) -> None:
        if self.name not in FRAMINGS:
            raise InputError(f"unknown framing {self.name!r}; choose from {', '.join(FRAMINGS)}")

    @property
    def moving(self) -> bool:
        """Whether the camera changes from frame to frame."""
        return self.name == "zoom"

    def view_at(self, t: float) -> View:
        if self.name == "full":
            return full_view(self.width, self.height)
        close = desk_view(self.width, self.height)
        if self.name == "desk":
            return close
        return zoom_view(full_view(self.width, self.height), close, self.timing.closeness(t))

    def camera_at(self, t: float) -> Camera:
        """The camera at time `t` (seconds from the start of the clip)."""
        return self.view_at(t).camera(self.width, self.height, self.place_x)

    def widest(self) -> Camera:
        """The camera that shows the most of the room over the whole clip."""
        view = full_view(self.width, self.height) if self.moving else self.view_at(0.0)
        return view.camera(self.width, self.height, self.place_x)


def default_aspect(name: str) -> float:
    """Width over height of a framing's frame when the clip does not give both."""
    if name not in ASPECTS:
        raise InputError(f"unknown framing {name!r}; choose from {', '.join(FRAMINGS)}")
    return ASPECTS[name]
