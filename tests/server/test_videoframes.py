"""RGB images to the `av.VideoFrame`s handed to aiortc's encoders."""

from __future__ import annotations

import av
import numpy as np
import pytest
from skimage import data

from server import framecode
from server.videoframes import video_frame


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[::2, ::2])  # 256 x 256, a real photo


def test_an_even_image_goes_as_i420_with_swscale_s_colours(photo) -> None:
    frame = video_frame(photo)
    assert frame.format.name == "yuv420p" and (frame.width, frame.height) == (256, 256)
    # What aiortc's encoder would have made of the RGB frame: the same luma, chroma
    # within rounding of the 2x2 averaging.
    reference = av.VideoFrame.from_ndarray(photo, format="rgb24").reformat(format="yuv420p")
    ours, theirs = frame.to_ndarray().astype(int), reference.to_ndarray().astype(int)
    assert np.abs(ours[:256] - theirs[:256]).max() <= 1
    assert np.abs(ours[256:] - theirs[256:]).mean() < 2.0
    back = frame.to_ndarray(format="rgb24").astype(int)
    assert np.abs(back - photo).mean() < 4.0


def test_the_frame_code_survives_the_conversion(photo) -> None:
    marked = framecode.draw(photo.copy(), 1234)
    back = video_frame(marked).to_ndarray(format="rgb24")
    assert framecode.read(back) == 1234


def test_an_odd_sided_image_goes_as_rgb(photo) -> None:
    odd = np.ascontiguousarray(photo[:255, :201])
    frame = video_frame(odd)
    assert frame.format.name == "rgb24" and (frame.width, frame.height) == (201, 255)
    assert np.array_equal(frame.to_ndarray(), odd)


@pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.uint8),
                                 np.zeros((8, 8, 4), np.uint8)])
def test_anything_but_rgb_uint8_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        video_frame(bad)
