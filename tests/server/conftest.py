"""Fixtures for the server tests: the Firefox driver of `benchmarks.firefox_bidi`, a
blank Chromium page holding scripts of the page (`server/static`) to call directly, and a
real offer of aiortc."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection

from benchmarks.browser import CHROMIUM
from benchmarks.firefox_bidi import FIREFOX, Firefox

STATIC = Path(__file__).resolve().parents[2] / "server" / "static"
# In those pages: bytesToBase64(Uint8Array) -> base64 text, to bring pixels out of them.
BYTES_TO_BASE64 = """window.bytesToBase64 = (bytes) => {
    let s = "";
    for (let i = 0; i < bytes.length; i += 8192) {
        s += String.fromCharCode(...bytes.subarray(i, i + 8192));
    }
    return btoa(s);
};"""


@pytest.fixture()
def firefox() -> type[Firefox]:
    """The `Firefox` driver class (an async context manager); skips without Firefox."""
    if FIREFOX is None:
        pytest.skip("Firefox is not installed (apt install firefox-esr)")
    return Firefox


@pytest.fixture(scope="module")
def chromium():  # noqa: ANN201 - a Playwright Browser
    """Headless Chromium, one per test module; skips without Chromium."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def static_page(chromium) -> Iterator[Callable[..., object]]:  # noqa: ANN001
    """`load("a.js", ...)`: a blank page with those scripts of server/static (and
    `bytesToBase64`), returned for `page.evaluate`."""
    page = chromium.new_page()

    def load(*names: str):  # noqa: ANN202 - a Playwright Page
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=BYTES_TO_BASE64)
        for name in names:
            page.add_script_tag(content=(STATIC / name).read_text())
        return page

    try:
        yield load
    finally:
        page.close()


@pytest.fixture(scope="session")
def offer_sdp() -> str:
    """A real offer of aiortc: video (VP8, H264, ...) and the control data channel."""
    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="sendrecv")
        pc.createDataChannel("control")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp
    return asyncio.run(make())


async def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


@pytest.fixture(scope="session")
def until() -> Callable[[Callable[[], bool], float], Awaitable[bool]]:
    """`await until(condition, seconds)`: True once `condition()` holds, False if it has
    not within `seconds`."""
    return _until


def _run_app(app: web.Application, body: Callable[[TestClient, web.Application], Awaitable[None]],
             **server: object) -> None:
    async def main() -> None:
        test_server = TestServer(app)
        await test_server.start_server(**server)
        async with TestClient(test_server) as http:
            await body(http, app)
    asyncio.run(main())


@pytest.fixture(scope="session")
def run_app() -> Callable[..., None]:
    """`run_app(app, body, **server_options)`: serves `app` on loopback in a new event loop
    and awaits `body(http, app)` with a test client of it."""
    return _run_app
