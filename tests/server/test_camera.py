"""The page's camera sender (server/static/camera.js) marks camera frames in place: a
frame in a YUV format gets the code painted into its planes, any other format (RGB
frames, say) is drawn through a canvas; either way the copy keeps the frame's size and
timestamp, and the code reads back as the server reads it."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from benchmarks.browser import CHROMIUM
from server import framecode

STATIC = Path(__file__).resolve().parents[2] / "server" / "static"

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
    let s = "";
    for (let i = 0; i < pixels.length; i += 8192) {
        s += String.fromCharCode(...pixels.subarray(i, i + 8192));
    }
    result.rgba = btoa(s);
    return result;
}"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
@pytest.mark.parametrize(("fmt", "size", "code"), [("I420", (480, 480), 1234),
                                                   ("I420", (640, 360), 7),
                                                   ("RGB", (640, 480), framecode.MODULO - 1)])
def test_a_marked_camera_frame_carries_the_code(fmt: str, size: tuple[int, int],
                                                code: int) -> None:
    from playwright.sync_api import sync_playwright

    width, height = size
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.set_content("<html><body></body></html>")
            for name in ("framecode.js", "camera.js"):
                page.add_script_tag(content=(STATIC / name).read_text())
            result = page.evaluate(MARK, [fmt, width, height, code])
        finally:
            browser.close()
    assert result["inFormat"] == "I420" if fmt == "I420" else result["inFormat"] != "I420"
    assert (result["width"], result["height"], result["timestamp"]) == (width, height, 1234)
    rgba = np.frombuffer(base64.b64decode(result["rgba"]), np.uint8).reshape(height, width, 4)
    assert framecode.read(np.ascontiguousarray(rgba[..., :3])) == code
