"""The page in real browsers: avatar frames per second and glass-to-glass latency.

    python -m benchmarks.browser [--browsers chromium firefox] [--seconds 20] [--repeat 3]
                                 [--avatar AVATAR ...] [--send auto canvas]
                                 [--transport offer whip] [--backend auto ort-cpu ...]

For each browser and avatar (by default the two demo avatars, `demo-live` first, as
`dancenow serve` offers them): `dancenow serve`'s app on a loopback port (one session,
pose on ONNX Runtime), the page opened headless with a fake webcam (Chromium:
a synthetic performer `.y4m`, driven by Playwright; Firefox ESR: its own fake camera,
driven over WebDriver BiDi), Start pressed. After a warm-up the page's own statistics
are read over `--seconds`: avatar frames shown per second, glass-to-glass latency from
the frame codes (p50 / p95), and the server's statistics for the session.

The page sends its camera in one of two ways (server/static/camera.js): `frames` (the
camera's frames marked in place; Chromium) or `canvas` (drawn through a canvas; Firefox,
or any browser with `?send=canvas`). `--send auto canvas` runs both in turns where the
browser has both; the `camera` column says which one a run used. `--transport offer whip`
runs the page's one connection and its WHIP + WHEP path in turns, `--backend` the server's
runners (`auto`, as `dancenow serve`, is resolved to the backend it picks here).

A shared machine's speed drifts by more than the differences worth measuring, so each
browser and avatar runs `--repeat` times, taking turns, and the summary row is the
median of its runs. A browser's first session in a fresh machine state runs slower (the
browser decodes fewer frames than the server sends), so each browser first runs one
unrecorded session (`--warmup-runs`). Before each run the first avatar's generator is
timed alone on one thread (`reference ms`): how fast the machine was at that moment.
Results: `results/browser.json` and `results/browser.md`. A browser that is not
installed is reported as such and left out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestServer

from benchmarks.firefox_bidi import FIREFOX, Firefox
from benchmarks.machine import machine, reference_ms
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_AVATAR, DEMO_LIVE_AVATAR, AvatarBundle, load_bundle
from engine.errors import InputError
from engine.pipeline import PipelineConfig
from engine.runners.base import AUTO, available_backends, model_kind, resolve_backend
from server.app import ServeConfig, create_app
from server.session import SessionOptions
from synth.clip import ClipSpec, synth_clip

log = logging.getLogger("benchmarks.browser")
RESULTS = Path(__file__).resolve().parent / "results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSERS = ("chromium", "firefox")
WARMUP_FRAMES = 10  # avatar frames shown before the measurement starts
STATS = "window.dancenow.stats()"  # the page's own statistics
STARTED = f"window.dancenow.shown() > {WARMUP_FRAMES}"
HAS_AVATARS = "document.querySelector('#avatar').options.length > 0"
STOPPED = "document.querySelector('#message').textContent === 'Stopped.'"
ENDING_S = 5.0  # the most a stopped session may take to leave the server


SERVER_KEYS = ("fps_in", "fps_out", "sent_fps", "send_fps_asked", "dropped", "stale_skipped",
               "latency", "stages")  # of the session's statistics, kept in the results
COUNTERS = ("framesShown", "presented", "framesReceived", "framesDecoded", "framesDropped")


@dataclass
class PageRun:
    """What the page saw over the measured seconds (see `window.dancenow.stats()`).

    `frames` holds the window's counts: `framesReceived` / `framesDecoded` /
    `framesDropped` are the avatar video's inbound-rtp counters (what the browser got
    and decoded), `presented` the frames it put on screen, `framesShown` the page's own
    per-frame callbacks (which skip frames while the page's thread is busy).
    """

    browser: str
    seconds: float
    frames: dict[str, int]
    glass_ms: list[float]  # glass-to-glass samples taken in the window
    connection: str | None
    errors: list[str] = field(default_factory=list)
    server: dict | None = None  # the session's entry in GET /stats at the end
    send_path: str | None = None  # how the page sent its camera: frames or canvas
    left_server: bool | None = None  # the session gone from the server after Stop

    @classmethod
    def from_stats(cls, browser: str, before: dict, after: dict, seconds: float,
                   errors: list[str], server: dict | None,
                   left_server: bool | None = None) -> PageRun:
        taken = after["glassTotal"] - before["glassTotal"]
        glass = after["glass"][-taken:] if taken > 0 else []
        frames = {k: int(after.get(k, 0)) - int(before.get(k, 0)) for k in COUNTERS}
        return cls(browser, seconds, frames, [float(x) for x in glass],
                   after["connection"], list(errors), server, after.get("sendPath"),
                   left_server)

    def rate(self, counter: str) -> float:
        return self.frames[counter] / self.seconds

    @property
    def fps(self) -> float:
        """Avatar frames decoded per second: the frames the browser received whole."""
        return self.rate("framesDecoded")

    @property
    def shown_fps(self) -> float:
        """Avatar frames presented on the page per second."""
        return self.rate("presented")

    def glass_percentile(self, q: float) -> float | None:
        return float(np.percentile(self.glass_ms, q)) if self.glass_ms else None

    def summary(self) -> dict:
        server = self.server or {}
        return {"browser": self.browser, "send_path": self.send_path, "seconds": self.seconds,
                "decoded_fps": self.fps, "presented_fps": self.shown_fps,
                "callback_fps": self.rate("framesShown"), "frames": self.frames,
                "glass_to_glass_ms": {"p50_ms": self.glass_percentile(50),
                                      "p95_ms": self.glass_percentile(95),
                                      "samples": len(self.glass_ms)},
                "connection": self.connection, "console_errors": self.errors,
                "left_server": self.left_server,
                "server": {k: server.get(k) for k in SERVER_KEYS}}


def demo_app(pose_models: str | None = None, avatar: str | Path = DEMO_LIVE_AVATAR,
             backend: str = AUTO) -> web.Application:
    """The server's app as `dancenow serve` builds it: one avatar, one session at a time,
    the avatar's models and the pose on `backend` (default `auto`, as `serve`), the pose
    with one thread (its own CPU)."""
    bundle: AvatarBundle = load_bundle(avatar)
    pipeline = PipelineConfig(backend=backend, pose_backend=backend, pose_models=pose_models,
                              pose_threads=1)
    return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                  session=SessionOptions(pipeline=pipeline)))


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """The app on a free loopback port, in this event loop; yields the page's URL."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/"))
    finally:
        await server.close()


def performer_webcam(path: Path) -> Path:
    """A synthetic performer dancing, as the `.y4m` file Chromium's fake webcam plays."""
    synth_clip(ClipSpec(actor="performer", motion="dance", seconds=4, size=480, fps=30,
                        seed=6), path, progress=False)
    return path


async def _session_stats(url: str, session: str | None, secret: str | None) -> dict | None:
    """The server's statistics of the page's session (read with the session's secret)."""
    import aiohttp

    headers = {"X-Session-Secret": secret} if secret else {}
    async with aiohttp.ClientSession() as http, http.get(url + "stats",
                                                         headers=headers) as res:
        sessions = (await res.json())["sessions"]
    return next((s for s in sessions if s.get("id") == session), None)


async def _measured_window(url: str, seconds: float,
                           evaluate: Callable[[str], Awaitable[dict]]
                           ) -> tuple[dict, dict, float, dict | None]:
    """The page's statistics before and after `seconds` of the session, the seconds
    measured, and the server's statistics for it at the end, with `sent_fps`: the
    avatar frames it sent per second over the window (`evaluate`: the browser's way of
    evaluating an expression in the page)."""
    before = await evaluate(STATS)
    server_before = await _session_stats(url, before["session"], before.get("secret"))
    start = time.perf_counter()
    await asyncio.sleep(seconds)
    after = await evaluate(STATS)
    elapsed = time.perf_counter() - start
    server = await _session_stats(url, after["session"], after.get("secret"))
    if server is not None and server_before is not None:
        server["sent_fps"] = (server["frames_sent"] - server_before["frames_sent"]) / elapsed
    return before, after, elapsed, server


async def _left_server(url: str, page_stats: dict) -> bool:
    """Whether the page's session leaves the server within ENDING_S of its Stop."""
    deadline = time.perf_counter() + ENDING_S
    while True:
        if await _session_stats(url, page_stats["session"], page_stats.get("secret")) is None:
            return True
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.1)


def chromium_args(webcam: Path) -> list[str]:
    """Chromium's switches for the page: `webcam` (.y4m) as an allowed camera, autoplay."""
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={webcam}",
            "--autoplay-policy=no-user-gesture-required"]


async def chromium_run(url: str, seconds: float, webcam: Path,
                       executable: str | None = CHROMIUM, query: str = "") -> PageRun:
    """The page (at `url` + `query`) in headless Chromium with `webcam` (.y4m) as the
    camera."""
    from playwright.async_api import async_playwright

    if executable is None:
        raise FileNotFoundError("Chromium is not installed (apt install chromium)")
    errors: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True,
                                           args=chromium_args(webcam))
        try:
            page = await browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(url + query)
            await page.wait_for_function(HAS_AVATARS)
            await page.click("#start")
            await page.wait_for_function(STARTED, timeout=60_000)
            before, after, elapsed, server = await _measured_window(url, seconds,
                                                                    page.evaluate)
            # The page says Stopped. once the server has answered what ending asks
            # (over WHIP the DELETEs): an error there is in `errors` by then.
            await page.click("#stop")
            await page.wait_for_function(STOPPED, timeout=ENDING_S * 1000)
            left = await _left_server(url, after)
        finally:
            await browser.close()
    return PageRun.from_stats("chromium", before, after, elapsed, errors, server, left)


async def firefox_run(url: str, seconds: float, executable: str | None = FIREFOX,
                      query: str = "") -> PageRun:
    """The page (at `url` + `query`) in headless Firefox with its own fake camera."""
    async with Firefox(executable) as ff:
        await ff.navigate(url + query)
        await ff.wait_for(HAS_AVATARS)
        await ff.evaluate("document.querySelector('#start').click()", user_gesture=True)
        await ff.wait_for(STARTED, timeout=60)
        before, after, elapsed, server = await _measured_window(url, seconds, ff.evaluate)
        await ff.evaluate("document.querySelector('#stop').click()")
        await ff.wait_for(STOPPED, timeout=ENDING_S)
        left = await _left_server(url, after)
        errors = list(ff.errors)
    return PageRun.from_stats("firefox", before, after, elapsed, errors, server, left)


SENDS = ("auto", "canvas")  # the page's choice of camera path, or the canvas path forced
TRANSPORTS = ("offer", "whip")  # one connection, or WHIP in and WHEP out


async def measure(browser: str, app_factory: Callable[[], web.Application], seconds: float,
                  workdir: Path, send: str = "auto", transport: str = "offer") -> PageRun:
    """One session of the page in `browser` against a fresh app; `send`: `auto` (the
    page's choice) or `canvas` (`?send=canvas`); `transport`: `offer` (one connection)
    or `whip` (camera over WHIP, avatar over WHEP: `?transport=whip`)."""
    if send not in SENDS:
        raise InputError(f"unknown send {send!r}: use {' or '.join(SENDS)}")
    if transport not in TRANSPORTS:
        raise InputError(f"unknown transport {transport!r}: use offer or whip")
    params = ([] if send == "auto" else [f"send={send}"]) + \
        ([] if transport == "offer" else [f"transport={transport}"])
    query = "?" + "&".join(params) if params else ""
    async with serving(app_factory()) as url:
        if browser == "chromium":
            return await chromium_run(url, seconds, performer_webcam(workdir / "webcam.y4m"),
                                      query=query)
        if browser == "firefox":
            return await firefox_run(url, seconds, query=query)
    raise InputError(f"unknown browser {browser!r}: use {' or '.join(BROWSERS)}")


def installed(browser: str) -> bool:
    return (CHROMIUM if browser == "chromium" else FIREFOX) is not None


# The columns of the results table: (heading, how a run's summary gives it, format).
COLUMNS = (
    ("avatar fps decoded", lambda r: r["decoded_fps"], "{:.1f}"),
    ("presented", lambda r: r["presented_fps"], "{:.1f}"),
    ("glass-to-glass p50 ms", lambda r: r["glass_to_glass_ms"]["p50_ms"], "{:.0f}"),
    ("p95 ms", lambda r: r["glass_to_glass_ms"]["p95_ms"], "{:.0f}"),
    ("server fps out", lambda r: r["server"].get("fps_out"), "{:.1f}"),
    ("server latency p50 ms", lambda r: (r["server"].get("latency") or {}).get("p50_ms"),
     "{:.0f}"),
    ("reference ms", lambda r: r.get("reference_ms"), "{:.1f}"),
)


def median_row(runs: list[dict]) -> list[float | None]:
    """Each column's median over `runs` (None where no run has the value)."""
    row = []
    for _, value, _ in COLUMNS:
        values = [v for v in (value(r) for r in runs) if v is not None]
        row.append(float(np.median(values)) if values else None)
    return row


def _cells(values: list[float | None]) -> str:
    return " | ".join("—" if v is None else fmt.format(v)
                      for v, (_, _, fmt) in zip(values, COLUMNS, strict=True))


def _groups(runs: list[dict]) -> dict[tuple[str, ...], list[dict]]:
    """Runs by (browser, avatar, camera path, transport, backend), in the order they
    first ran."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for r in runs:
        key = (r["browser"], r.get("avatar", ""), r.get("send_path") or "",
               r.get("transport", "offer"), r.get("backend", ""))
        groups.setdefault(key, []).append(r)
    return groups


def markdown(report: dict) -> str:
    m = report["machine"]
    avatars = ", ".join(f"`{a}`" for a in report["avatars"])
    lines = ["# The page in real browsers", "", f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores; the browser and the server share "
             f"them. Avatars {avatars}, one session, {report['seconds']:.0f} s after a "
             "warm-up per run; browsers and avatars take turns. `reference ms`: the "
             f"generator of `{report['avatars'][0]}` alone on one thread just before each run "
             "(the machine's speed then). Before them, "
             f"{report.get('warmup_runs', 0)} unrecorded run(s) per browser.", "",
             "`camera`: how the page sent its camera (frames: marked in place; canvas: "
             "drawn through a canvas). `transport`: offer (camera and avatar on one "
             "connection) or whip (camera over WHIP, avatar over WHEP: two connections). "
             "`backend`: the server's runner of the avatar's and the pose models.", "",
             "| browser | avatar | camera | transport | backend | run | "
             + " | ".join(h for h, _, _ in COLUMNS) + " |",
             "|---|---|---|---|---|---|" + "---:|" * len(COLUMNS)]
    for (name, avatar, path, transport, backend), runs in _groups(report["runs"]).items():
        lines.append(f"| {name} | {avatar} | {path} | {transport} | {backend or '—'} | "
                     f"**median of {len(runs)}** | {_cells(median_row(runs))} |")
        for i, r in enumerate(runs, 1):
            lines.append(f"| | | | | | {i} | "
                         f"{_cells([value(r) for _, value, _ in COLUMNS])} |")
    for name in report["missing"]:
        lines.append(f"| {name} | | | | | not installed |" + " |" * len(COLUMNS))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--browsers", nargs="+", default=list(BROWSERS), choices=BROWSERS)
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="measured seconds per browser, after the warm-up")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per browser, the browsers taking turns (default 3)")
    parser.add_argument("--avatar", action="append", metavar="AVATAR",
                        help="avatar bundle (repeat for several, which take turns; default: "
                             "avatars/demo-live and avatars/demo)")
    parser.add_argument("--send", nargs="+", default=["auto"], choices=SENDS,
                        help="the page's camera path: auto (its own choice: frames where the "
                             "browser can, else canvas) and/or canvas (forced); several take "
                             "turns (default: auto)")
    parser.add_argument("--transport", nargs="+", default=["offer"], choices=TRANSPORTS,
                        help="how the page connects: offer (camera and avatar on one "
                             "connection) and/or whip (camera over WHIP, avatar over WHEP); "
                             "several take turns (default: offer)")
    parser.add_argument("--backend", nargs="+", default=[AUTO], metavar="BACKEND",
                        help="the server's runner of the avatar's and the pose models (auto, "
                             "as `dancenow serve`; ort-cpu, ov-cpu, ...); several take turns "
                             "(default: auto)")
    parser.add_argument("--warmup-runs", type=int, default=1, metavar="N",
                        help="unrecorded sessions per browser before the measured ones "
                             "(default 1)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    avatars = [Path(a) for a in args.avatar or (DEMO_LIVE_AVATAR, DEMO_AVATAR)]
    names = [load_bundle(a).name for a in avatars]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.warmup_runs < 0:
        parser.error("--warmup-runs cannot be negative")
    status = available_backends()
    for backend in args.backend:
        if backend != AUTO and backend not in status:
            parser.error(f"unknown backend {backend!r}: use auto or {', '.join(status)}")
        if backend != AUTO and status[backend]:
            parser.error(f"backend {backend} is not available here: {status[backend]}")
        if model_kind(backend) != "onnx":
            parser.error(f"backend {backend} cannot run the pose models (ONNX)")
    backends = list(dict.fromkeys(resolve_backend(b) for b in args.backend))
    from export.blazepose import ensure_pose_models

    ensure_pose_models("ort-cpu")
    missing = [name for name in args.browsers if not installed(name)]
    for name in missing:
        log.warning("%s is not installed: left out", name)
    present = [name for name in args.browsers if name not in missing]
    runs = []
    with tempfile.TemporaryDirectory(prefix="dancenow-browser-") as tmp:
        sends = {name: list(args.send) for name in present}
        for name in present:
            for i in range(args.warmup_runs):
                run = asyncio.run(measure(name, lambda: demo_app(avatar=avatars[0]),
                                          args.seconds, Path(tmp)))
                log.info("%s, warm-up run %d/%d (not recorded): %.1f avatar fps decoded, "
                         "camera through %s", name, i + 1, args.warmup_runs, run.fps,
                         run.send_path)
                if run.send_path == "canvas" and set(sends[name]) == set(SENDS):
                    sends[name] = ["auto"]  # the page's own choice is the canvas here
        for turn in range(args.repeat):
            for name, (avatar, avatar_name), transport, backend in itertools.product(
                    present, zip(avatars, names, strict=True), args.transport, backends):
                for send in sends[name]:
                    reference = reference_ms(avatars[0])
                    run = asyncio.run(measure(
                        name, lambda a=avatar, b=backend: demo_app(avatar=a, backend=b),
                        args.seconds, Path(tmp), send, transport))
                    log.info("%s, %s, camera through %s, %s, %s, run %d/%d: %.1f avatar "
                             "fps decoded, %.1f presented, glass-to-glass p50 %s ms "
                             "(reference %.1f ms)", name, avatar_name, run.send_path,
                             transport, backend, turn + 1, args.repeat, run.fps,
                             run.shown_fps, run.glass_percentile(50), reference)
                    runs.append({**run.summary(), "avatar": avatar_name, "send": send,
                                 "transport": transport, "backend": backend,
                                 "run": turn + 1, "reference_ms": reference})
    headers = [h for h, _, _ in COLUMNS]
    medians: dict[str, dict[str, dict[str, dict]]] = {}
    for (name, avatar, path, transport, backend), group in _groups(runs).items():
        key = " ".join(k for k in (path, transport, backend) if k)
        medians.setdefault(name, {}).setdefault(avatar, {})[key] = dict(
            zip(headers, median_row(group), strict=True))
    report = {"command": command_line("benchmarks.browser", argv), "machine": machine(),
              "avatars": names, "seconds": args.seconds, "repeat": args.repeat,
              "warmup_runs": args.warmup_runs, "send": args.send,
              "transport": args.transport, "backends": backends,
              "runs": runs, "medians": medians, "missing": missing}
    write_results(args.out, "browser", report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
