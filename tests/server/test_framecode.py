"""The frame code survives scaling and lossy compression, rejects garbage, and the page's
YUV painting of it (camera frames marked in place) reads back as the server reads it."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from server import framecode


@pytest.mark.parametrize("size", [(640, 480), (256, 256), (1280, 720)])
def test_round_trip_through_scaling_and_jpeg(size, rng) -> None:
    w, h = size
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    for value in (0, 1, 1234, framecode.MODULO - 1):
        framecode.draw(image, value)
        assert framecode.read(image) == value
        if w >= 320:
            small = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            jpeg = cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], 1)
            assert framecode.read(jpeg) == value


def test_frames_without_a_code_read_as_none(rng) -> None:
    assert framecode.read(np.full((480, 640, 3), 128, np.uint8)) is None
    noise = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    assert framecode.read(noise) is None
    damaged = framecode.draw(np.zeros((480, 640, 3), np.uint8), 77)
    damaged[:, 16 * 3:16 * 4] = 255 - damaged[:, 16 * 3:16 * 4]  # flip one cell
    assert framecode.read(damaged) is None
    assert not framecode.fits(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        framecode.draw(np.zeros((64, 64, 3), np.uint8), 1)


def _yuv_to_rgb(data: bytes, fmt: str, width: int, height: int) -> np.ndarray:
    """An I420 or NV12 frame, tightly packed as `VideoFrame.copyTo` lays it out, as RGB."""
    planes = np.frombuffer(data, np.uint8)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    y = planes[:width * height].reshape(height, width)
    if fmt == "NV12":
        uv = planes[width * height:width * height + 2 * cw * ch].reshape(ch, cw, 2)
        u, v = uv[..., 0], uv[..., 1]
    else:
        u = planes[width * height:width * height + cw * ch].reshape(ch, cw)
        v = planes[width * height + cw * ch:width * height + 2 * cw * ch].reshape(ch, cw)
    u = cv2.resize(u, (width, height), interpolation=cv2.INTER_NEAREST)
    v = cv2.resize(v, (width, height), interpolation=cv2.INTER_NEAREST)
    return cv2.cvtColor(np.dstack([y, u, v]), cv2.COLOR_YUV2RGB)


def test_the_pages_code_painted_into_yuv_planes_reads_back_after_scaling(static_page,  # noqa: ANN001
                                                                         rng) -> None:
    """The page's `FrameCode.paintYuv` (camera frames marked in place) writes the strip
    the server reads, in I420 and NV12, over noise, also once the encoder halves the
    frame."""
    page = static_page("framecode.js")
    for fmt, (width, height), value in [("I420", (480, 480), 1234), ("NV12", (640, 480), 77),
                                        ("I420", (1280, 720), 0),
                                        ("NV12", (322, 242), framecode.MODULO - 1)]:
        cw, ch = (width + 1) // 2, (height + 1) // 2
        size = width * height + 2 * cw * ch
        noise = rng.integers(0, 256, size, dtype=np.uint8)
        layout = ([{"offset": 0, "stride": width},
                   {"offset": width * height, "stride": 2 * cw}] if fmt == "NV12" else
                  [{"offset": 0, "stride": width},
                   {"offset": width * height, "stride": cw},
                   {"offset": width * height + cw * ch, "stride": cw}])
        painted = page.evaluate("""([b64, layout, fmt, w, h, value]) => {
            const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            FrameCode.paintYuv(data, layout, fmt, w, h, value);
            return bytesToBase64(data);
        }""", [base64.b64encode(noise.tobytes()).decode(), layout, fmt, width, height, value])
        rgb = _yuv_to_rgb(base64.b64decode(painted), fmt, width, height)
        assert framecode.read(rgb) == value, (fmt, width, height)
        half = cv2.resize(rgb, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
        assert framecode.read(half) == value, (fmt, width, height)
        assert framecode.read(_yuv_to_rgb(noise.tobytes(), fmt, width, height)) is None
