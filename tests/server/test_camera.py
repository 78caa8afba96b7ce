"""The page's camera sender (server/static/camera.js) marks camera frames in place: a
frame in a YUV format gets the code painted into its planes, any other format (RGB
frames, say) is drawn through a canvas; either way the copy keeps the frame's size and
timestamp, and the code reads back as the server reads it."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from server import framecode

# In the page: a camera-like VideoFrame of `format` (I420 from noise, or RGBX/BGRX from a
# canvas), marked with `code` by CameraSender.marked, drawn to a canvas and read back.
MARK = """async ([format, width, height, code]) => {
    let frame;
    if (format === "I420") {
        const size = width * height * 3 / 2, data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = (i * 7919) % 251;
        frame = new VideoFrame(data, { format, codedWidth: width, codedHeight: height,
                                       timestamp: 1234 });
    } else {
        const c = new OffscreenCanvas(width, height), ctx = c.getContext("2d");
        ctx.fillStyle = "#6a8"; ctx.fillRect(0, 0, width, height);
        frame = new VideoFrame(c, { timestamp: 1234 });
    }
    const inFormat = frame.format;
    const copy = await CameraSender.marked(frame, code, { data: null },
                                           new OffscreenCanvas(2, 2));
    frame.close();
    const out = new OffscreenCanvas(copy.displayWidth, copy.displayHeight);
    const ctx = out.getContext("2d");
    ctx.drawImage(copy, 0, 0);
    const pixels = ctx.getImageData(0, 0, out.width, out.height).data;
    const result = { inFormat, outFormat: copy.format, timestamp: copy.timestamp,
                     width: copy.displayWidth, height: copy.displayHeight };
    copy.close();
    result.rgba = bytesToBase64(pixels);
    return result;
}"""


@pytest.mark.parametrize(("fmt", "size", "code"), [("I420", (480, 480), 1234),
                                                   ("I420", (640, 360), 7),
                                                   ("RGB", (640, 480), framecode.MODULO - 1)])
def test_a_marked_camera_frame_carries_the_code(static_page, fmt: str,  # noqa: ANN001
                                                size: tuple[int, int], code: int) -> None:
    width, height = size
    result = static_page("framecode.js", "camera.js").evaluate(MARK, [fmt, width, height, code])
    assert result["inFormat"] == "I420" if fmt == "I420" else result["inFormat"] != "I420"
    assert (result["width"], result["height"], result["timestamp"]) == (width, height, 1234)
    rgba = np.frombuffer(base64.b64decode(result["rgba"]), np.uint8).reshape(height, width, 4)
    assert framecode.read(np.ascontiguousarray(rgba[..., :3])) == code
