"""The page's send-rate control (server/static/sendrate.js), run in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.browser import CHROMIUM

SCRIPT = Path(__file__).resolve().parents[2] / "server" / "static" / "sendrate.js"

pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="Chromium is not installed (apt install chromium)")


@pytest.fixture(scope="module")
def page():  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=SCRIPT.read_text() + "\nwindow.SendRate = SendRate;")
        yield page
        browser.close()


def _rates(page, updates: list[tuple[int, int]], **options) -> list[float]:  # noqa: ANN001
    """The rate after each of `updates`: cumulative (frames out, frames lost), a second
    apart."""
    return page.evaluate("""([updates, options]) => {
        const rate = SendRate.create(options);
        return updates.map(([out, lost]) => rate.update({ out, lost }, 1.0));
    }""", [updates, options])


def test_the_rate_holds_while_the_server_keeps_up(page) -> None:  # noqa: ANN001
    assert _rates(page, [(0, 0), (30, 0), (60, 1), (90, 1)]) == [30, 30, 30, 30]


def test_the_rate_falls_to_the_servers_output_and_climbs_back(page) -> None:  # noqa: ANN001
    # The server renders 20 frames a second and drops 10: send 22.
    rates = _rates(page, [(0, 0), (20, 10), (40, 10), (60, 10), (80, 10), (100, 10),
                          (120, 10), (140, 10), (160, 10), (180, 10)])
    assert rates[:2] == [30, 22]
    assert rates[2:] == sorted(rates[2:]) and rates[2] > 22 and rates[-1] == 30


def test_the_rate_holds_while_a_few_frames_are_lost(page) -> None:  # noqa: ANN001
    # 2 of 24 lost (8%): neither behind nor idle.
    assert _rates(page, [(0, 0), (20, 10), (42, 12), (64, 14)])[1:] == [22, 22, 22]


def test_the_rate_keeps_its_floor_and_ignores_a_counter_reset(page) -> None:  # noqa: ANN001
    rates = _rates(page, [(0, 0), (0, 30), (0, 60), (5, 60)], min=5)  # nothing rendered
    assert rates[1:3] == [5, 5]
    assert rates[3] > 5  # nothing lost in the last second: back up
    assert _rates(page, [(500, 10), (3, 0)]) == [30, 30]  # a new session's counters


@pytest.mark.parametrize("fps", [30, 21, 12.5])
def test_frames_are_taken_at_the_rate_from_a_30_fps_camera(page, fps) -> None:  # noqa: ANN001
    taken = page.evaluate("""(fps) => {
        const rate = SendRate.create({ max: 30 });
        // Fall to `fps`: the server put out (fps - 1) / 1.05 frames and lost 30.
        rate.update({ out: 0, lost: 0 }, 1);
        if (fps < 30) rate.update({ out: (fps - 1) / 1.05, lost: 30 }, 1);
        let taken = 0;
        for (let i = 0; i < 900; i++) {  // 30 s of frames, jittered by up to 3 ms
            if (rate.take(i * 1000 / 30 + (i % 3) * 1.5)) taken++;
        }
        return [rate.fps, taken];
    }""", fps)
    assert taken[0] == pytest.approx(fps)
    assert abs(taken[1] - 30 * fps) <= 2
