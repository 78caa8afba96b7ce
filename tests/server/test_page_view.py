"""What the performer sees on the page, in headless Chromium against the real app, with a
desk-view webcam (the synthetic performer from head to hips, as most laptops see one):

* the camera preview and the avatar mirrored by default (a CSS flip of the elements; the
  pose overlay flipped with the avatar, over the same box); the toggle un-mirrors both
  and is remembered across reloads;
* the frame code's rows are not shown in the avatar box (they lie above its visible
  rectangle, and a screenshot of the box has no code cells, where one with the crop
  taken off has them), while glass-to-glass latency is still measured from them;
* the tracking mode and its hint are shown: "upper body" for this webcam (the engine
  sets the mode from what the camera shows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.browser import (
    CHROMIUM,
    HAS_AVATARS,
    STARTED,
    STATS,
    chromium_args,
    demo_app,
    serving,
)
from engine.keypoints import drop_unseen
from synth.clip import ClipSpec, synthesize, write_clip

log = logging.getLogger(__name__)

DESK_SHARE = 0.56  # of the frame's height kept from the top: head to hips
FLIP = "matrix(-1, 0, 0, 1, 0, 0)"  # a computed horizontal flip
MODE_TEXTS = {  # what the page says for each tracking mode, and what it asks for
    "full": ("whole body", ""),
    "upper": ("upper body", "step back to show your legs"),
    "none": ("nobody in view", "step into view"),
}
# The mirror switch, and the computed transforms and boxes of the views.
VIEW = """() => {
    const box = (id) => {
        const r = document.getElementById(id).getBoundingClientRect();
        return [r.left, r.top, r.width, r.height];
    };
    const transform = (id) => getComputedStyle(document.getElementById(id)).transform;
    return { mirror: document.getElementById("mirror").checked,
             stored: localStorage.getItem(PageView.MIRROR_KEY),
             camera: transform("camera"), avatar: transform("avatarVideo"),
             overlay: transform("poseCanvas"), avatarRect: box("avatarVideo"),
             overlayRect: box("poseCanvas"), boxRect: box("avatarBox") };
}"""
# Where the frame code's rows lie on the screen (their bottom edge) against the top of
# the avatar box; the avatar frames are square, as the box, so object-fit adds no bars.
CODE_ROWS = """() => {
    const v = document.getElementById("avatarVideo");
    const r = v.getBoundingClientRect();
    const box = document.getElementById("avatarBox").getBoundingClientRect();
    const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
    const top = r.top + (r.height - v.videoHeight * scale) / 2;
    const [, rows] = FrameCode.stripSize(v.videoWidth, v.videoHeight);
    return { codeBottom: top + rows * scale, boxTop: box.top, width: v.videoWidth,
             height: v.videoHeight };
}"""
UNCROPPED = ".stack { top: 0 !important; left: 0 !important; width: 100% !important; " \
            "height: 100% !important; }"  # the whole frame in the box, code rows included
MODE = "() => [document.getElementById('mode').textContent, " \
       "document.getElementById('modeHint').textContent, " \
       "document.getElementById('tracking').hidden]"


def desk_webcam(path: Path, seconds: float = 3.0) -> Path:
    """The performer waving, seen from a desk: the top DESK_SHARE of a square 512 px clip
    (512x288), as a Y4M file for Chromium's fake webcam; beside it the ground truth, whose
    joints below the frame's edge are missing (NaN, visibility 0)."""
    spec = ClipSpec(actor="performer", motion="wave", seconds=seconds, size=512, fps=30,
                    seed=2)
    height = round(spec.size * DESK_SHARE / 2) * 2

    def frames():  # noqa: ANN202
        for image, kp in synthesize(spec):
            yield np.ascontiguousarray(image[:height]), drop_unseen(kp, (spec.size, height))

    track = write_clip(frames(), spec.frames, path, (spec.size, height), spec.fps,
                       progress=False)
    legs = track.keypoints[:, 25:33, 2]  # knees, ankles, heels and feet: out of the frame
    with path.open("rb") as f:
        assert b" C420" in f.readline()  # the header Chromium's fake webcam reads
    assert (legs == 0).all()
    return path


def code_share(image: np.ndarray, rows: int) -> float:
    """How much of a row of `image` (BGR) is pure black or white, as the code's cells are,
    over the 42% of its width at either edge (where the code's 16 cells, 40% of the width,
    would be, mirrored or not): the most of any of its top `rows` rows, on either side.
    A single row of code cells shown gives about 0.85 (the codec blurs their edges)."""
    band = image[:rows].astype(np.int16)
    bw = (band.max(axis=2) <= 40) | (band.min(axis=2) >= 215)
    side = int(image.shape[1] * 0.42)
    return float(max(bw[:, :side].mean(axis=1).max(), bw[:, -side:].mean(axis=1).max()))


async def _screenshot(page, selector: str) -> np.ndarray:  # noqa: ANN001
    png = await page.locator(selector).screenshot()
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


async def _glass_total(page) -> int:  # noqa: ANN001
    return int((await page.evaluate(STATS))["glassTotal"])


async def _wait_for_mode(page, label: str, seconds: float) -> bool:  # noqa: ANN001
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if (await page.evaluate(MODE))[0] == label:
            return True
        await asyncio.sleep(0.1)
    return False


async def _session(page, seen: dict) -> None:  # noqa: ANN001
    """Start, check the streaming page, switch mirroring off; results into `seen`."""
    seen["default"] = await page.evaluate(VIEW)
    await page.click("#start")
    await page.wait_for_function(STARTED, timeout=60_000)
    await page.wait_for_function("document.getElementById('mode').textContent !== ''",
                                 timeout=20_000)
    seen["mode"] = await page.evaluate(MODE)
    seen["mirrored"] = await page.evaluate(VIEW)
    for _ in range(300):  # glass-to-glass samples, taken while mirrored
        if await _glass_total(page) > 20:
            break
        await asyncio.sleep(0.1)
    seen["glass_mirrored"] = await _glass_total(page)
    seen["code_rows"] = await page.evaluate(CODE_ROWS)
    seen["shown"] = await _screenshot(page, "#avatarBox")
    style = await page.add_style_tag(content=UNCROPPED)
    await asyncio.sleep(0.2)
    seen["uncropped"] = await _screenshot(page, "#avatarBox")
    await style.evaluate("s => s.remove()")
    seen["upper"] = await _wait_for_mode(page, MODE_TEXTS["upper"][0], 20.0)
    seen["mode_last"] = await page.evaluate(MODE)
    await page.click("#mirror")
    seen["unmirrored"] = await page.evaluate(VIEW)
    before = await _glass_total(page)
    await asyncio.sleep(3.0)
    seen["glass_unmirrored"] = await _glass_total(page) - before
    seen["stats"] = await page.evaluate(STATS)
    await page.click("#stop")
    seen["stopped_mode"] = await page.evaluate(MODE)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
def test_the_page_mirrors_hides_the_code_and_shows_the_mode(pose_models, tmp_path) -> None:
    from playwright.async_api import async_playwright

    webcam = desk_webcam(tmp_path / "desk.y4m")
    seen: dict = {}
    errors: list[str] = []

    async def main() -> None:
        async with serving(demo_app(str(pose_models))) as url, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=chromium_args(webcam))
            try:
                page = await browser.new_page()  # one context: its localStorage persists
                page.on("console",
                        lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(url)
                await page.wait_for_function(HAS_AVATARS)
                await _session(page, seen)
                await page.reload()
                await page.wait_for_function(HAS_AVATARS)
                seen["reloaded_off"] = await page.evaluate(VIEW)
                await page.click("#mirror")
                await page.reload()
                await page.wait_for_function(HAS_AVATARS)
                seen["reloaded_on"] = await page.evaluate(VIEW)
                seen["texts"] = await page.evaluate("PageView.MODES")
            finally:
                await browser.close()

    asyncio.run(main())
    log.info("mode shown %s, then %s; glass-to-glass samples %d mirrored, +%d un-mirrored; "
             "code rows end at %.1f px, the box starts at %.1f px", seen["mode"],
             seen["mode_last"], seen["glass_mirrored"], seen["glass_unmirrored"],
             seen["code_rows"]["codeBottom"], seen["code_rows"]["boxTop"])
    assert not errors, errors

    # Mirrored by default: both videos and the overlay flipped, the overlay over the avatar.
    for view in (seen["default"], seen["mirrored"]):
        assert view["mirror"] and view["stored"] is None
        assert view["camera"] == view["avatar"] == view["overlay"] == FLIP
        assert view["overlayRect"] == view["avatarRect"]
    # The toggle un-mirrors both, and the choice outlives a reload, either way.
    off = seen["unmirrored"]
    assert not off["mirror"] and off["stored"] == "0"
    assert off["camera"] == off["avatar"] == off["overlay"] == "none"
    assert not seen["reloaded_off"]["mirror"] and seen["reloaded_off"]["camera"] == "none"
    assert seen["reloaded_off"]["avatar"] == "none"
    on = seen["reloaded_on"]
    assert on["mirror"] and on["stored"] == "1" and on["camera"] == on["avatar"] == FLIP

    # The code's rows lie above the avatar box's visible rectangle...
    rows = seen["code_rows"]
    assert rows["width"] == rows["height"] >= 160  # a square avatar frame carrying a code
    assert rows["codeBottom"] <= rows["boxTop"]
    # ...so a screenshot of the box shows no code cells, where the whole frame shows them.
    band = round(seen["shown"].shape[1] / 40)  # the cells' height, shown uncropped
    assert seen["shown"].shape[:2] == seen["uncropped"].shape[:2]
    assert code_share(seen["uncropped"], band) > 0.6
    assert code_share(seen["shown"], band) < 0.3
    # Glass-to-glass is still measured, mirrored or not (the frames are never flipped).
    assert seen["glass_mirrored"] > 20 and seen["glass_unmirrored"] > 5
    glass = seen["stats"]["glass"]
    assert 0 < float(np.median(glass)) < 2000

    # The mode is shown with its hint, in the page's words, and hidden once stopped.
    assert {k: [v["label"], v["hint"]] for k, v in seen["texts"].items()} == {
        k: list(v) for k, v in MODE_TEXTS.items()}
    label, hint, hidden = seen["mode"]
    assert not hidden and (label, hint) in MODE_TEXTS.values()
    assert seen["stopped_mode"][2]
    # Head to hips: the avatar stands on neutral legs, and the page says "upper body".
    assert seen["upper"], f"the page showed {seen['mode_last'][0]!r}, never 'upper body'"
    assert seen["mode_last"][1] == MODE_TEXTS["upper"][1]
