"""Label map -> avatar frame with an avatar bundle's runners, on any backend.

`AvatarRenderer` owns the generator runner and, when the bundle has one, the face
runner. Each `render` call feeds the label map and the previous generated frame (zeros
after `reset()` or at the start), keeps the new frame as the next call's previous one,
then adds the face model's residual inside the face box. This is the same computation
as training's evaluation, without torch. The two halves are also callable apart
(`generate`, then `add_face`), from different threads, so a live pipeline can run the
face of one frame while the generator works on the next.
"""

from __future__ import annotations

from types import TracebackType

import numpy as np

from engine.avatar import AvatarBundle, open_runner
from engine.errors import InputError
from engine.face import crop_resize, paste_residual
from engine.runners.base import resolve_backend


def _chw_to_hwc(t: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(t[0].transpose(1, 2, 0))


def _hwc_to_nchw(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None], dtype=np.float32)


class AvatarRenderer:
    """Renders a bundle's avatar frame by frame (a context manager; see the module doc)."""

    def __init__(self, bundle: AvatarBundle, backend: str = "ort-cpu",
                 use_face: bool = True, **options: object) -> None:
        self.bundle = bundle
        self.backend = backend = resolve_backend(backend)
        self.generator = open_runner(bundle, "generator", backend, **options)
        self.face = (open_runner(bundle, "face", backend, **options)
                     if use_face and "face" in bundle.models else None)
        r = bundle.resolution
        self.shape = (1, 3, r, r)
        self._previous = np.zeros(self.shape, np.float32)

    def __enter__(self) -> AvatarRenderer:
        self.generator.__enter__()
        if self.face is not None:
            self.face.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.face is not None:
            self.face.__exit__(exc_type, exc, tb)
        self.generator.__exit__(exc_type, exc, tb)

    def reset(self) -> None:
        """Forget the previous frame: the next one starts from zeros, as after a gap."""
        self._previous[...] = 0.0

    def render(self, label: np.ndarray, face_box: np.ndarray | None = None) -> np.ndarray:
        """float32 `[1, 3, H, W]` frame in [-1, 1] for a label map of the same shape.

        The returned array is the caller's (not a runner buffer)."""
        out = self.generate(label)
        self.add_face(label, out, face_box)
        return out

    def generate(self, label: np.ndarray) -> np.ndarray:
        """The generator's frame (`render` without the face residual), the caller's array."""
        label = np.asarray(label)
        if label.shape != self.shape:
            raise InputError(f"label map must have shape {list(self.shape)}, got "
                             f"{list(label.shape)}")
        feed = {"label": label.astype(np.float32, copy=False)}
        if self.bundle.temporal:
            feed["previous"] = self._previous
        frame = self.generator.infer(feed)["frame"]
        self._previous[...] = frame
        return frame.copy()

    def add_face(self, label: np.ndarray, frame: np.ndarray, box: np.ndarray | None) -> None:
        """Add the face model's residual inside `box` of the `[1, 3, H, W]` frame, in place
        (nothing without a face model or a box).

        Only the box is moved between the models' planar layout and OpenCV's interleaved
        one, never the whole frame."""
        if self.face is None or box is None or box[2] <= 0:
            return
        label = label.astype(np.float32, copy=False)
        crop = self.bundle.face_crop
        x0, y0, side = (int(v) for v in box)
        inside = np.array([0, 0, side])

        def patch(t: np.ndarray) -> np.ndarray:
            return _chw_to_hwc(t[..., y0:y0 + side, x0:x0 + side])

        image = patch(frame)
        feed = {"label_crop": _hwc_to_nchw(crop_resize(patch(label), inside, crop)),
                "image_crop": _hwc_to_nchw(crop_resize(image, inside, crop))}
        residual = self.face.infer(feed)["residual"]
        paste_residual(image, _chw_to_hwc(residual), inside)
        frame[0, :, y0:y0 + side, x0:x0 + side] = image.transpose(2, 0, 1)
