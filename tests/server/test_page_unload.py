"""Closing or reloading the page ends its session at once (not after a timeout): the page
sends its stop on `pagehide` (over one connection, `/control` stop; over WHIP + WHEP, the
DELETEs of its resources), so a one-session server takes the next start right away."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from benchmarks.browser import (
    CHROMIUM,
    HAS_AVATARS,
    STARTED,
    chromium_args,
    demo_app,
    performer_webcam,
    serving,
)


async def _sessions(url: str) -> int:
    """How many sessions the server holds (its statistics in aggregate)."""
    async with aiohttp.ClientSession() as http, http.get(url + "stats") as res:
        return (await res.json())["summary"]["count"]


async def _gone_within(url: str, seconds: float) -> float | None:
    """Seconds until /stats lists no session, or None if one is still there."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        if not await _sessions(url):
            return time.perf_counter() - start
        await asyncio.sleep(0.1)
    return None


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt install chromium)")
@pytest.mark.parametrize("query", ["", "?transport=whip"], ids=["offer", "whip"])
def test_leaving_the_page_frees_its_slot_at_once(pose_models, tmp_path, query) -> None:
    from playwright.async_api import async_playwright

    webcam = performer_webcam(tmp_path / "performer.y4m")
    seen: dict = {}

    async def main() -> None:
        async with serving(demo_app(str(pose_models))) as url, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=chromium_args(webcam))
            try:
                page = await browser.new_page()
                for step in ("reload", "close"):  # a reload, then the tab closed
                    if step == "reload":
                        await page.goto(url + query)
                    await page.wait_for_function(HAS_AVATARS)
                    await page.click("#start")
                    await page.wait_for_function(STARTED, timeout=60_000)
                    seen[f"{step}_live"] = await _sessions(url)
                    if step == "reload":
                        await page.reload()
                    else:
                        await page.close(run_before_unload=True)
                    seen[step] = await _gone_within(url, 5.0)
            finally:
                await browser.close()

    asyncio.run(main())
    assert seen["reload_live"] == 1 and seen["close_live"] == 1
    # The server would otherwise hold the slot until the connection times out (~30 s).
    assert seen["reload"] is not None and seen["reload"] < 5.0, seen
    assert seen["close"] is not None and seen["close"] < 5.0, seen
