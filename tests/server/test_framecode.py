"""The frame code survives scaling and lossy compression, and rejects garbage."""

from __future__ import annotations

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
