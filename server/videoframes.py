"""RGB images -> `av.VideoFrame`s ready for a VP8 or H.264 encoder (the stream's shared
encoder, `server.broadcast`, as aiortc's own).

The encoders take I420 (`yuv420p`) frames and convert anything else with PyAV's
`reformat` (swscale), which for a 256 px RGB frame costs about a millisecond, as much as
the VP8 encoding itself. OpenCV's conversion does the same work in a tenth of
that, so outgoing frames are handed over in I420 already. OpenCV's and swscale's default
conversions both use BT.601 coefficients with limited range, the colorimetry a frame
with no colour tags is read with, so the browser shows the same colours either way.
Images with an odd side (which I420 cannot hold without padding) go as RGB and are
converted by the encoder.
"""

from __future__ import annotations

import av
import cv2
import numpy as np


def video_frame(image: np.ndarray) -> av.VideoFrame:
    """The `av.VideoFrame` for an RGB uint8 `(H, W, 3)` image: `yuv420p` where both sides
    are even, else `rgb24`. Timestamps are left to the caller."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {image.dtype} "
                         f"{list(image.shape)}")
    height, width = image.shape[:2]
    if height % 2 or width % 2:
        return av.VideoFrame.from_ndarray(image, format="rgb24")
    i420 = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420)
    return av.VideoFrame.from_ndarray(i420, format="yuv420p")
