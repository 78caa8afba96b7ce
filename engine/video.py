"""Video files in and out: PyAV decoding to RGB frames, H.264 MP4 and Y4M writing.

Writers produce their output under a temporary name and rename it into place on a clean
close, so an interrupted or failed run never leaves a partial file behind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from engine.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself before decoding."""

    width: int
    height: int
    fps: float
    frames: int | None  # None when the container does not say


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise InputError(f"video not found: {path}")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot open {path} as a video: {reason}") from exc
    if not container.streams.video:
        container.close()
        raise InputError(f"{path} has no video stream")
    return container


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate and (when known) frame count of a video file."""
    path = Path(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        frames = stream.frames or None
        return VideoInfo(stream.codec_context.width, stream.codec_context.height,
                         float(rate), frames)


def read_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Decode a video file to HxWx3 uint8 RGB frames, in order.

    Raises `InputError` when the file cannot be opened or decoding fails before a
    single frame came out; a decoding error later in the file ends the stream with a
    warning (the frames before it are kept).
    """
    path = Path(path)
    container = _open_input(path)
    produced = 0
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                produced += 1
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            if produced == 0:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise InputError(f"cannot decode {path}: {reason}") from exc
            log.warning("%s: decoding stopped after %d frames: %s", path, produced, exc)
    finally:
        container.close()
    if produced == 0:
        raise InputError(f"{path} holds no decodable video frames")


class _AtomicWriter:
    """Shared rename-on-success logic for the writers below."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = self.path.with_name(f".{self.path.name}.part{self.path.suffix}")
        self.frames_written = 0

    def _finish(self, ok: bool) -> None:
        if ok and self.frames_written > 0:
            os.replace(self.tmp_path, self.path)
        else:
            self.tmp_path.unlink(missing_ok=True)

    def __enter__(self):  # noqa: ANN204 - returns the concrete writer
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(ok=exc_type is None)

    def close(self, ok: bool = True) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class Mp4Writer(_AtomicWriter):
    """H.264 (yuv420p) MP4 writer for RGB frames of a fixed size.

    With `audio_from`, the first audio track of that file (if it has one) is copied into
    the output unchanged when the writer closes."""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int, fps: float,
                 crf: int = 18, audio_from: str | os.PathLike[str] | None = None) -> None:
        super().__init__(path)
        if width % 2 or height % 2:
            raise InputError(f"H.264 output needs even frame sizes, got {width}x{height}")
        self.width, self.height = width, height
        self._container = av.open(str(self.tmp_path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast"}
        self._closed = False
        self._audio_in = self._audio_src = self._audio_out = None
        if audio_from is not None:
            self._audio_in = _open_input(Path(audio_from))
            if self._audio_in.streams.audio:
                self._audio_src = self._audio_in.streams.audio[0]
                self._audio_out = self._container.add_stream_from_template(self._audio_src)

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 {self.height}x{self.width}x3, got "
                             f"{rgb.dtype} {rgb.shape}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self, ok: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if ok:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                if self._audio_out is not None:
                    self._copy_audio()
        finally:
            self._container.close()
            if self._audio_in is not None:
                self._audio_in.close()
            self._finish(ok)

    def _copy_audio(self) -> None:
        for packet in self._audio_in.demux(self._audio_src):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            packet.stream = self._audio_out
            self._container.mux(packet)


def rgb_to_i420(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BT.601 limited-range Y, U, V planes (chroma subsampled 2x2) of an RGB frame."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b
    h, w = y.shape
    u = u.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    v = v.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = (y, u, v)
    return tuple(np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in planes)  # type: ignore[return-value]


class Y4mWriter(_AtomicWriter):
    """YUV4MPEG2 writer with the `C420` header that Chromium's fake webcam accepts."""

    def __init__(self, path: str | os.PathLike[str], width: int, height: int,
                 fps: float) -> None:
        super().__init__(path)
        if width % 2 or height % 2:
            raise InputError(f"Y4M 4:2:0 output needs even frame sizes, got {width}x{height}")
        self.width, self.height = width, height
        rate = Fraction(fps).limit_denominator(1001)
        self._fh = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in close()
        header = (f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} "
                  "Ip A1:1 C420\n")
        self._fh.write(header.encode("ascii"))
        self._closed = False

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 {self.height}x{self.width}x3, got "
                             f"{rgb.dtype} {rgb.shape}")
        self._fh.write(b"FRAME\n")
        for plane in rgb_to_i420(rgb):
            self._fh.write(plane.tobytes())
        self.frames_written += 1

    def close(self, ok: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        self._fh.close()
        self._finish(ok)


def open_writer(path: str | os.PathLike[str], width: int, height: int,
                fps: float) -> Mp4Writer | Y4mWriter:
    """A writer chosen by the file extension: `.y4m` or an MP4 container."""
    suffix = Path(path).suffix.lower()
    if suffix == ".y4m":
        return Y4mWriter(path, width, height, fps)
    if suffix in (".mp4", ".m4v", ".mov"):
        return Mp4Writer(path, width, height, fps)
    raise InputError(f"unsupported output format {suffix!r}: use .mp4 or .y4m")
