"""The viewer page in Chromium (libwebrtc): a WHIP camera's avatar played over WHEP by
/watch/<stream>, which leaves its viewer when the tab closes."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.browser import CHROMIUM, serving
from engine.avatar import load_bundle
from engine.pipeline import PipelineConfig
from server.app import ServeConfig, create_app
from server.http import VIEWERS
from server.loopback import LoopbackClient, performer_frames
from server.session import SessionOptions

FRAMES_SHOWN = """() => new Promise((resolve) => {
  const video = document.querySelector('#avatar');
  let count = 0;
  const tick = () => {
    if (++count >= 20) resolve(count); else video.requestVideoFrameCallback(tick);
  };
  video.requestVideoFrameCallback(tick);
})"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
def test_chromium_watches_a_whip_stream_and_leaves_when_closed(until, tiny_bundles) -> None:
    import aiohttp
    from playwright.async_api import async_playwright

    bundle = load_bundle(tiny_bundles["fp16"])
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                 session=SessionOptions(
                                     pipeline=PipelineConfig(pose_backend="mediapipe"))))
    frames = [f for f, _ in performer_frames(size=192)]
    seen: dict = {}

    async def main() -> None:
        async with serving(app) as url, async_playwright() as pw, \
                aiohttp.ClientSession() as http:
            camera = LoopbackClient(frames, direction="sendonly")
            async with http.post(url + "whip", data=(await camera.offer())["sdp"],
                                 headers={"Content-Type": "application/sdp"}) as res:
                assert res.status == 201, await res.text()
                stream = res.headers["Dancenow-Stream"]
                await camera.answer({"sdp": await res.text(), "type": "answer"})
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--autoplay-policy=no-user-gesture-required"])
            try:
                page = await browser.new_page()
                await page.goto(f"{url}watch/{stream}")
                seen["frames"] = await asyncio.wait_for(page.evaluate(FRAMES_SHOWN), 60)
                seen["size"] = await page.evaluate(
                    "[document.querySelector('#avatar').videoWidth, "
                    "document.querySelector('#avatar').videoHeight]")
                seen["status_hidden"] = await page.evaluate(
                    "document.querySelector('#status').hidden")
                seen["viewers"] = len(app[VIEWERS].viewers)
                await page.close(run_before_unload=True)
                seen["left"] = await until(lambda: not app[VIEWERS].viewers, 5)
            finally:
                await browser.close()
                await camera.close()

    asyncio.run(main())
    assert seen["frames"] >= 20 and seen["size"] == [64, 64], seen
    assert seen["status_hidden"] and seen["viewers"] == 1, seen
    assert seen["left"], seen  # pagehide sent DELETE for the viewer's resource
