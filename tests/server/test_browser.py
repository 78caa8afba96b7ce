"""The page in real browsers: it connects to `dancenow serve`'s app, shows the avatar for
10 s and measures glass-to-glass latency from the frame codes, without console errors.

* Debian's Chromium, headless, driven by Playwright, with a fake webcam playing a
  synthetic performer (.y4m);
* Debian's Firefox ESR, headless, driven over WebDriver BiDi (the `firefox` fixture in
  tests/server/conftest.py), with Firefox's own fake camera (a generated picture,
  nobody in it: the avatar stands).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import threading
import time

import pytest
from aiohttp import web

from engine.avatar import DEMO_AVATAR, load_bundle
from engine.pipeline import PipelineConfig
from server.app import ServeConfig, create_app
from server.session import SessionOptions
from train.synth.clip import ClipSpec, synth_clip

log = logging.getLogger(__name__)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class ServerThread(threading.Thread):
    """The server's app on a free loopback port, in its own event loop."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(daemon=True, name="test-server")
        self.app = app
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        self.loop.run_until_complete(site.start())
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(10)


@pytest.fixture()
def server(pose_models):
    """The app with the demo avatar on a loopback port, one session at a time."""
    bundle = load_bundle(DEMO_AVATAR)
    pipeline = PipelineConfig(pose_backend="ort-cpu", pose_models=str(pose_models),
                              pose_threads=1)
    app = create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                 session=SessionOptions(pipeline=pipeline)))
    thread = ServerThread(app)
    thread.start()
    assert thread.ready.wait(30)
    yield thread
    thread.stop()


def _check_session(browser: str, before: dict, after: dict, seconds: float,
                   errors: list[str]) -> None:
    fps = (after["framesShown"] - before["framesShown"]) / seconds
    glass = sorted(after["glass"])
    log.info("%s: %.1f avatar fps, glass-to-glass p50 %.0f ms over %d frames", browser, fps,
             glass[len(glass) // 2] if glass else float("nan"), len(glass))
    assert after["connection"] == "connected"
    # A stream, not a trickle. How fast it is on a given machine is a benchmark's
    # business (the README and the results record it), not a timed assertion.
    assert fps >= 5
    assert len(glass) > 20 and 0 < glass[len(glass) // 2] < 2000
    assert not errors, errors


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
def test_chromium_shows_the_avatar_and_measures_glass_to_glass(server, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    webcam = tmp_path / "webcam.y4m"
    synth_clip(ClipSpec(actor="performer", motion="dance", seconds=4, size=480, fps=30,
                        seed=6), webcam, progress=False)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={webcam}",
            "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_function("document.querySelector('#avatar').options.length > 0")
        page.click("#start")
        page.wait_for_function("window.dancenow.stats().framesShown > 10", timeout=60_000)
        before = page.evaluate("window.dancenow.stats()")
        start = time.perf_counter()
        page.wait_for_timeout(10_000)
        after = page.evaluate("window.dancenow.stats()")
        seconds = time.perf_counter() - start
        page.click("#stop")
        browser.close()
    _check_session("chromium", before, after, seconds, errors)


def test_firefox_shows_the_avatar_and_measures_glass_to_glass(server, firefox) -> None:
    async def session() -> tuple[dict, dict, float, list[str]]:
        async with firefox() as ff:
            await ff.navigate(f"http://127.0.0.1:{server.port}/")
            await ff.wait_for("document.querySelector('#avatar').options.length > 0")
            await ff.evaluate("document.querySelector('#start').click()", user_gesture=True)
            await ff.wait_for("window.dancenow.stats().framesShown > 10", timeout=60)
            before = await ff.evaluate("window.dancenow.stats()")
            start = time.perf_counter()
            await asyncio.sleep(10)
            after = await ff.evaluate("window.dancenow.stats()")
            seconds = time.perf_counter() - start
            await ff.evaluate("document.querySelector('#stop').click()")
            return before, after, seconds, ff.errors

    _check_session("firefox", *asyncio.run(session()))
