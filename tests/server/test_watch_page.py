"""The viewer page in Chromium (libwebrtc): a WHIP camera's avatar played over WHEP by
/watch/<stream>, which leaves its viewer when the tab closes."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
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


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
def test_the_pages_music_reaches_a_viewer_and_not_the_performer(until, tiny_bundles,
                                                                tmp_path) -> None:
    from playwright.async_api import async_playwright

    from benchmarks.browser import HAS_AVATARS, chromium_args, performer_webcam
    from server.loopback import LoopbackViewer

    bundle = load_bundle(tiny_bundles["fp16"])
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                 session=SessionOptions(
                                     pipeline=PipelineConfig(pose_backend="mediapipe"))))
    webcam = performer_webcam(tmp_path / "webcam.y4m")
    seen: dict = {}

    async def main() -> None:
        async with serving(app) as url, async_playwright() as pw, \
                aiohttp.ClientSession() as http:
            # Chromium's fake microphone beeps; it stands for the performer's music
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=chromium_args(webcam))
            viewer = LoopbackViewer(audio=True)
            try:
                page = await browser.new_page()
                await page.goto(url + "?music=microphone")
                await page.wait_for_function(HAS_AVATARS)
                await page.click("#start")
                await page.wait_for_function(
                    "document.querySelector('#watchLink').href.includes('/watch/')",
                    timeout=60_000)
                link = await page.evaluate("document.querySelector('#watchLink').href")
                stream = link.rsplit("/", 1)[1]
                async with http.post(f"{url}whep/{stream}", data=await viewer.offer(),
                                     headers={"Content-Type": "application/sdp"}) as res:
                    assert res.status == 201, await res.text()
                    await viewer.answer(await res.text())
                seen["heard"] = await until(
                    lambda: any(np.abs(s).max() > 1000 for _, s in viewer.audio), 30)
                seen["performer_audio_tracks"] = await page.evaluate(
                    "document.querySelector('#avatarVideo').srcObject"
                    ".getAudioTracks().length")
            finally:
                await viewer.close()
                await browser.close()

    asyncio.run(main())
    assert seen["heard"], "the viewer got no sound from the page's microphone"
    assert seen["performer_audio_tracks"] == 0  # the performer does not hear it back
