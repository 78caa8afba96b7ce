"""Motion lag in Chromium through the page: the avatar's motion against the performer's
true motion at the moment each avatar frame is shown, with and without pose prediction.

For each motion: a synthetic performer clip whose true poses are known is Chromium's fake
webcam (`.y4m`, each frame carrying its own index in a second frame code along its bottom
edge); the server's app runs in this process with `--predict auto`, the page's own
glass-to-glass feeding the horizon, as a performer's page does. The page's prediction
switch is clicked once per `--block` seconds. The page logs when each camera frame went
out and when each avatar frame was shown (its frame codes, on the page's clock); the
server records, per frame code, the clip frame the camera frame showed and the pose the
avatar frame was drawn from. `benchmarks.motion_align` then gives, per setting, the motion
lag, the error at the moment of display and the joint acceleration of the drawn pose.

    python -m benchmarks.browser_lag [--motions dance:41 sidestep:42 kick:43]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from benchmarks.browser import CHROMIUM, HAS_AVATARS, STARTED, chromium_args, serving
from benchmarks.machine import machine
from benchmarks.motion_align import TrueMotion, measure, true_height
from benchmarks.motion_lag import block_masks, motion_argument, settings_table
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from engine.keypoints import LIMB_JOINTS
from engine.pipeline import LiveFrame, PipelineConfig
from server import framecode
from server.app import ServeConfig, create_app
from server.session import Session, SessionOptions
from synth.clip import ClipSpec, synthesize

log = logging.getLogger("benchmarks.browser_lag")
RESULTS = Path(__file__).resolve().parent / "results"
CLIP_SECONDS = 10.0
SIZE = 480


def clip_index(image: np.ndarray) -> int | None:
    """The clip frame index carried along the bottom edge of a camera frame."""
    return framecode.read(np.ascontiguousarray(image[::-1]))


def performer_y4m(path: Path, motion: str, seed: int) -> np.ndarray:
    """The performer clip as a `.y4m` (4:2:0) with each frame's index along its bottom
    edge; returns the true poses `[F, 33, 3]`."""
    spec = ClipSpec(actor="performer", motion=motion, seconds=CLIP_SECONDS, size=SIZE,
                    fps=30, seed=seed)
    truth = []
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{SIZE} H{SIZE} F30:1 Ip A1:1 C420jpeg\n".encode())
        for i, (frame, kp) in enumerate(synthesize(spec)):
            image = np.ascontiguousarray(frame)
            framecode.draw(image[::-1], i)  # the strip along the bottom, upside down
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420).tobytes())
            truth.append(kp)
    return np.stack(truth).astype(np.float32)


@contextlib.contextmanager
def recording_frames() -> Iterator[dict[int, tuple[int | None, np.ndarray]]]:
    """While in the block, every avatar frame a session sends is recorded by its frame
    code: (the clip index its camera frame carried, the limb joints it was drawn from)."""
    records: dict[int, tuple[int | None, np.ndarray]] = {}
    original = Session._sink

    async def sink(self: Session, frame: LiveFrame) -> None:
        if frame.id is not None and frame.normalized is not None:
            records[frame.id] = (clip_index(frame.image),
                                 frame.normalized[list(LIMB_JOINTS), :2].astype(np.float64))
        await original(self, frame)

    Session._sink = sink  # type: ignore[method-assign]
    try:
        yield records
    finally:
        Session._sink = original  # type: ignore[method-assign]


def app(avatar: str) -> object:
    bundle = load_bundle(avatar)
    pipeline = PipelineConfig(pose_backend="ort-cpu", pose_threads=1, predict="auto")
    return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=1,
                                  session=SessionOptions(pipeline=pipeline)))


async def run_motion(args: argparse.Namespace, motion: str, seed: int, workdir: Path) -> dict:
    from playwright.async_api import async_playwright

    webcam = workdir / f"{motion}.y4m"
    truth = performer_y4m(webcam, motion, seed)
    errors: list[str] = []
    blocks: list[tuple[float, float, str]] = []
    with recording_frames() as records:
        async with serving(app(args.avatar)) as url, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=chromium_args(webcam))
            try:
                page = await browser.new_page()
                page.on("console",
                        lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(url)
                await page.wait_for_function(HAS_AVATARS)
                await page.click("#start")
                await page.wait_for_function(STARTED, timeout=60_000)
                await asyncio.sleep(args.warmup)
                for i in range(args.blocks):
                    on = i % 2 == 1
                    if await page.is_checked("#predict") != on:
                        await page.click("#predict")
                    begin = await page.evaluate("performance.now()")
                    await asyncio.sleep(args.block)
                    end = await page.evaluate("performance.now()")
                    blocks.append((begin / 1e3, end / 1e3, "auto" if on else "off"))
                frames = await page.evaluate("window.dancenow.frameLog()")
                stats = await page.evaluate("window.dancenow.stats()")
                await page.click("#stop")
            finally:
                await browser.close()
    return analyze(frames, dict(records), truth, blocks, args.settle) | {
        "glass_to_glass_p50_ms": (round(float(np.median(stats["glass"])), 1)
                                  if stats["glass"] else None),
        "console_errors": errors}


def analyze(frames: dict, records: dict, truth: np.ndarray, blocks: list,
            settle: float) -> dict:
    """Lag and error per setting from the page's logs and the server's records."""
    sent = [(code, at / 1e3, records[code][0]) for code, at in frames["sent"]
            if code in records and records[code][0] is not None]
    if len(sent) < 30:
        raise RuntimeError(f"only {len(sent)} camera frames could be traced to the clip")
    times = np.array([t for _, t, _ in sent])
    counts = np.array([k for _, _, k in sent])
    motion = TrueMotion.from_timeline(times, counts, truth)
    shown = [(at / 1e3, records[code][1]) for code, at in frames["shown"] if code in records]
    arrivals = np.array([t for t, _ in shown])
    drawn = np.stack([p for _, p in shown])
    groups = block_masks(arrivals, blocks, settle)
    result = measure(motion, true_height(truth), arrivals, drawn, groups, reference="off")
    result["frames_traced"] = len(sent)
    result["frames_shown"] = len(shown)
    return result


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Motion lag in Chromium through the page", "",
             f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores. Avatar `{report['avatar']}`, the "
             "server's app with `--predict auto`, fed by the page's own glass-to-glass; "
             f"the page's prediction switch clicked every {report['block']:g} s (the first "
             f"{report['settle']:g} s of each block left out). Lag and error of the pose "
             "each shown frame was drawn from, against the performer's true pose at the "
             "moment the page showed it (fraction of the body height).", "",
             "| motion | setting | frames | lag ms | error p50 | error p95 | acceleration | "
             "glass-to-glass p50 ms |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for run in report["runs"]:
        for s in ("off", "auto"):
            r = run.get(s, {})
            lines.append(f"| {run['motion']}:{run['seed']} | {s} | {r.get('frames', 0)} | "
                         f"{r.get('lag_ms')} | {r.get('error_p50')} | {r.get('error_p95')} | "
                         f"{r.get('acceleration_mean')} | {run.get('glass_to_glass_p50_ms')} |")
    for s, r in report["summary"].items():
        lines.append(f"| **mean** | {s} | | {r.get('lag_ms')} | {r.get('error_p50')} | "
                     f"{r.get('error_p95')} | {r.get('acceleration_mean')} | |")
    if (v := report["summary"].get("auto", {}).get("vs_off")):
        lines += ["", f"`auto` against `off`: error p50 x{v['error_p50']}, p95 "
                  f"x{v['error_p95']}, acceleration x{v['acceleration_mean']}."]
    return "\n".join(lines) + "\n"


def summarize(runs: list[dict]) -> dict:
    """Per setting, the means over the motions, and `auto`'s ratios to `off`."""
    return settings_table(runs, ["off", "auto"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--motions", nargs="+", type=motion_argument,
                        default=[("dance", 41), ("sidestep", 42), ("kick", 43)],
                        metavar="MOTION[:SEED]", help="the performer's motions")
    parser.add_argument("--avatar", default=str(DEMO_LIVE_AVATAR), help="avatar bundle")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per motion")
    parser.add_argument("--block", type=float, default=4.0, help="seconds per block")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds left out at the start of each block")
    parser.add_argument("--warmup", type=float, default=4.0,
                        help="seconds after the avatar shows, before the blocks")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if CHROMIUM is None:
        parser.error("Chromium is not installed (apt install chromium)")
    if args.block <= args.settle:
        parser.error("--block must be longer than --settle")
    runs = []
    with tempfile.TemporaryDirectory(prefix="dancenow-browser-lag-") as tmp:
        for motion, seed in args.motions:
            started = time.perf_counter()
            result = asyncio.run(run_motion(args, motion, seed, Path(tmp)))
            log.info("%s: %s (%.0f s)", motion, {s: result.get(s) for s in ("off", "auto")},
                     time.perf_counter() - started)
            runs.append({"motion": motion, "seed": seed, **result})
    report = {"command": command_line("benchmarks.browser_lag", argv), "machine": machine(),
              "avatar": load_bundle(args.avatar).name, "block": args.block,
              "settle": args.settle, "runs": runs, "summary": summarize(runs)}
    write_results(args.out, "browser_lag", report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
