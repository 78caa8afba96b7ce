"""The avatar report (train.report): its files, a page that needs nothing else, the bars,
the poster and the manifest; the server's avatar list and poster route; the page opened
from disk in Chromium, and the picker's cards."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from benchmarks.browser import CHROMIUM
from engine.avatar import AvatarBundle, load_bundle
from server.app import ServeConfig, create_app
from train.report import BARS, Bar, describe, training_seconds, write_report
from train.report_plots import curves_png, read_loss_logs

STATIC = Path(__file__).resolve().parents[2] / "server" / "static"
STAGE_SECONDS = {"prepare": 12.0, "temporal": 95.0, "face": 30.0, "export": 8.0, "eval": 5.0}
SCREENSHOT = Path("/tmp/report.png")


@pytest.fixture(scope="module")
def reported(tiny_bundles: dict[str, Path], tiny_run: Path, tiny_data: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny fp32 bundle with its report (metrics measured by the report)."""
    bundle = tmp_path_factory.mktemp("reported") / "tiny"
    shutil.copytree(tiny_bundles["fp32"], bundle)
    html = write_report(bundle, [tiny_run], tiny_data, STAGE_SECONDS, speed_calls=5)
    assert html == bundle / "report.html"
    return bundle


class _Refs(HTMLParser):
    """Every src and href of a page, and its script tags."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href")]


def test_the_report_poster_and_manifest(reported: Path) -> None:
    for name in ("report.html", "report.md", "poster.jpg", "report/samples.jpg",
                 "report/curves.png"):
        assert (reported / name).is_file(), name
    poster = reported / "poster.jpg"
    assert poster.stat().st_size < 60_000
    img = cv2.imread(str(poster))
    assert img is not None and img.shape == (64, 64, 3)  # the bundle's size (under 256)
    manifest = json.loads((reported / "manifest.json").read_text())
    assert manifest["poster"] == "poster.jpg"
    assert re.fullmatch(r"64 px, tiny, trained 2 min on 1 video; held-out SSIM \d\.\d\d\d",
                        manifest["description"]), manifest["description"]
    bundle = load_bundle(reported, verify=True)  # the models' checksums still hold
    assert bundle.poster == poster.resolve() and bundle.description == manifest["description"]
    written = [reported / n for n in ("report.html", "report.md", "poster.jpg")]
    written += list((reported / "report").iterdir())
    assert sum(f.stat().st_size for f in written) < 1_000_000


def test_the_page_is_self_contained(reported: Path) -> None:
    text = (reported / "report.html").read_text()
    refs = _Refs()
    refs.feed(text)
    assert refs.scripts == 0
    assert not re.search(r"https?://", text)
    images = [v for tag, k, v in refs.refs if tag == "img"]
    assert len(images) == 3  # poster, samples, curves
    assert all(v.startswith(("data:image/jpeg;base64,", "data:image/png;base64,"))
               for v in images)
    assert all(v.startswith("data:") for _, _, v in refs.refs), refs.refs


def test_metrics_against_the_bars(reported: Path) -> None:
    text = (reported / "report.html").read_text()
    md = (reported / "report.md").read_text()
    # the tiny avatar is not re-detected: no pose distance, its bar not counted
    assert re.search(r"Held-out metrics: \d of [56] bars met", text)
    for bar in BARS:
        shown = f"{'>=' if bar.higher else '<='} {bar.fmt.format(bar.bar)}"
        assert bar.label in text and shown.replace(">", "&gt;").replace("<", "&lt;") in text
        assert f"| {bar.label} |" in md and shown in md and bar.demo in md
    rows = [line for line in md.splitlines() if line.startswith(tuple(
        f"| {b.label} |" for b in BARS))]
    assert len(rows) == 6
    assert all(r.rstrip(" |").endswith(("pass", "FAIL", "not measured")) for r in rows)
    for section in ("Held-out samples", "Training curves", "Pose coverage", "Time per stage",
                    "Speed on this machine"):
        assert section in text and f"## {section}" in md
    for model in ("pose", "generator", "face"):
        assert f"| {model} |" in md
    assert "](report/samples.jpg)" in md and "](poster.jpg)" in md
    assert "What it lacks" in md and "training footage" in md


def test_bars_pass_and_fail() -> None:
    high = Bar("ssim", "SSIM", True, 0.88, "{:.3f}", "")
    low = Bar("flicker", "flicker", False, 0.012, "{:.4f}", "")
    assert high.passes(0.9) and high.passes(0.88) and not high.passes(0.87)
    assert low.passes(0.01) and not low.passes(0.02)
    assert high.passes(None) is None and low.passes(float("nan")) is None
    assert high.row(None).value == "-" and high.row(0.9).bar == ">= 0.880"


def test_curves_and_times(tiny_run: Path, tmp_path: Path) -> None:
    logs = read_loss_logs([tiny_run, tmp_path])  # a folder without logs adds nothing
    assert [(g.stage, g.steps) for g in logs] == [("temporal", 6), ("face", 3)]
    assert {"d", "l1"} <= set(logs[0].last())
    assert curves_png(logs)[:8] == b"\x89PNG\r\n\x1a\n" and curves_png([]) is None
    seconds = {"prepare": 60, "global": 1800, "temporal (cpu-live)": 600, "face": 300,
               "export": 60, "eval": 90}
    assert training_seconds(seconds) == 2700


def test_description_without_times_or_metrics(tiny_bundles: dict[str, Path]) -> None:
    bundle = load_bundle(tiny_bundles["fp16"])
    assert describe(bundle, {}, None, {}) == "64 px, tiny"
    assert describe(bundle, {"global": 3720}, 3, {"ssim": 0.912}) == \
        "64 px, tiny, trained 62 min on 3 videos; held-out SSIM 0.912"
    assert describe(bundle, {}, None, {"ssim": 0.8969}).endswith("held-out SSIM 0.897")


def test_a_poster_must_be_a_plain_image_file_of_the_bundle(tmp_path: Path) -> None:
    root = tmp_path / "b"
    (root / "sub").mkdir(parents=True)
    for name in ("poster.jpg", "sub/p.jpg", "notes.txt"):
        (root / name).write_bytes(b"x")
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")

    def poster(name: object) -> Path | None:
        return AvatarBundle(root, {"poster": name}, {}).poster

    assert poster("poster.jpg") == (root / "poster.jpg").resolve()
    for bad in ("sub/p.jpg", "../outside.jpg", "notes.txt", "link.jpg", "missing.jpg", "",
                "/etc/passwd", "poster.jpg\x00", 5, None, ".."):
        assert poster(bad) is None, bad


def _serve(avatars: dict[str, AvatarBundle], body) -> None:  # noqa: ANN001
    async def main() -> None:
        server = TestServer(create_app(ServeConfig(avatars=avatars)))
        async with TestClient(server) as http:
            await body(http)
    asyncio.run(main())


def test_the_server_lists_and_serves_posters(reported: Path,
                                              tiny_bundles: dict[str, Path]) -> None:
    with_poster = load_bundle(reported)
    plain = load_bundle(tiny_bundles["fp16"])
    assert plain.poster is None
    avatars = {"tiny avatar": with_poster, plain.name: plain}

    async def body(http: TestClient) -> None:
        listed = await (await http.get("/avatars")).json()
        assert listed == [
            {"name": "tiny avatar", "resolution": 64, "description": with_poster.description,
             "poster": "/avatars/tiny%20avatar/poster"},
            {"name": plain.name, "resolution": 64, "description": None, "poster": None}]
        res = await http.get(listed[0]["poster"])
        assert res.status == 200 and res.content_type == "image/jpeg"
        assert await res.read() == (reported / "poster.jpg").read_bytes()
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        for path in (f"/avatars/{plain.name}/poster", "/avatars/nobody/poster",
                     "/avatars/tiny%20avatar/manifest.json", "/avatars/..%2Ftiny/poster",
                     "/avatars/tiny%20avatar%2F..%2F..%2Ftiny/poster",
                     "/avatars/tiny%20avatar/poster/..%2Fmanifest.json",
                     "/avatars/%00/poster", "/avatars/" + "x" * 300 + "/poster"):
            res = await http.get(path)
            assert res.status == 404, path
            assert "error" in await res.json()

    _serve(avatars, body)


@pytest.fixture(scope="module")
def chromium():  # noqa: ANN201 - a Playwright Browser
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def test_the_report_opens_from_disk_in_chromium(reported: Path, chromium) -> None:  # noqa: ANN001
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.goto((reported / "report.html").resolve().as_uri(), wait_until="load")
        sizes = page.evaluate("[...document.images].map((i) => [i.complete, i.naturalWidth])")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        page.close()
    assert not errors, errors
    assert len(sizes) == 3 and all(done and width > 0 for done, width in sizes), sizes
    assert all(u.startswith(("file:", "data:")) for u in requests), requests


PICKER = """async () => {
    document.body.innerHTML = '<section id="cards"></section><select id="avatar"></select>';
    const cards = document.getElementById("cards"), select = document.getElementById("avatar");
    const changes = [];
    select.onchange = () => changes.push(select.value);
    const png = await (await fetch(POSTER)).blob();
    const fetchPoster = (url) => url === "/p/a" ? Promise.resolve(png)
        : Promise.reject(new Error("HTTP 404"));
    AvatarPicker.show(cards, select, [
        {name: "a", resolution: 256, description: "256 px, cpu-live; held-out SSIM 0.89",
         poster: "/p/a"},
        {name: "b", resolution: 512, description: null, poster: null},
        {name: "c", resolution: 64, description: null, poster: "/p/missing"}], fetchPoster);
    await new Promise((r) => setTimeout(r, 200));
    const state = () => [...cards.children].map((c) => [c.dataset.name,
        c.getAttribute("aria-pressed"), c.textContent,
        c.querySelector("img") ? c.querySelector("img").naturalWidth : null]);
    const first = state();
    cards.children[1].click();
    return {first, after: state(), changes, options: [...select.options].map((o) => o.value)};
}"""


def test_the_picker_shows_posters_and_chooses(chromium, tmp_path: Path) -> None:  # noqa: ANN001
    poster = tmp_path / "p.png"
    cv2.imwrite(str(poster), np.full((32, 32, 3), 200, np.uint8))
    page = chromium.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.add_style_tag(content=(STATIC / "style.css").read_text())
        page.add_script_tag(content=(STATIC / "picker.js").read_text())
        uri = "data:image/png;base64," + base64.b64encode(poster.read_bytes()).decode()
        got = page.evaluate(PICKER.replace("POSTER", json.dumps(uri)))
    finally:
        page.close()
    assert got["options"] == ["a", "b", "c"]
    a, b, c = got["first"]
    assert a[:2] == ["a", "true"] and "256 px" in a[2] and "SSIM 0.89" in a[2] and a[3] == 32
    assert b == ["b", "false", "b512 px", None]  # no poster: name and resolution
    assert c == ["c", "false", "c64 px", None]  # a poster that cannot be fetched: the same
    assert got["changes"] == ["b"]
    assert [x[1] for x in got["after"]] == ["false", "true", "false"]
