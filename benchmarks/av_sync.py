"""Sound and picture at a viewer: how far the performer's audio is from its avatar.

A performer (aiortc, WHIP) sends the synthetic dancer with a frame code in each camera
frame, and a click track (a 10 ms click every second) as its audio; a WHEP viewer
(aiortc, no audio prefetch: arrival is what is timed) receives the avatar and the audio.
For each click: when it arrived at the viewer less when the performer sent it (audio
latency); for each avatar frame: when it arrived less when its camera frame was captured
(video latency). The offset is the median audio latency less the median video latency:
positive when the sound comes late. The server runs in this process (`demo-live`), the
performer and the viewer in one of their own (`--client`), so that their video coding
does not hold the server's event loop.

Results: `results/av_sync.json` and `.md`.

    python -m benchmarks.av_sync [--seconds 20] [--click-every 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import aiohttp

from benchmarks.browser import demo_app, serving
from benchmarks.machine import machine
from benchmarks.report import command_line, write_results
from server.loopback import (
    ClickTrack,
    LoopbackClient,
    LoopbackViewer,
    click_arrivals,
    performer_frames,
)

log = logging.getLogger("benchmarks.av_sync")
RESULTS = Path(__file__).resolve().parent / "results"
SDP = {"Content-Type": "application/sdp"}
WARMUP_S = 4.0  # the start is left out (the pipeline and the encoders settling)


def offset(camera: LoopbackClient, click: ClickTrack, viewer: LoopbackViewer,
           since: float) -> dict:
    """The measured latencies and their offset from `since` (perf_counter) on."""
    sent = camera.camera.sent
    video = [t - sent[c] for t, c in viewer.received
             if t >= since and c is not None and c in sent and 0 < t - sent[c] < 5]
    audio = []
    for arrival in click_arrivals(viewer.audio or []):
        before = [c for c in click.clicks if c <= arrival]
        if arrival >= since and before and arrival - before[-1] < click.every:
            audio.append(arrival - before[-1])
    result = {"video_frames": len(video), "clicks": len(audio),
              "video_latency_ms": round(statistics.median(video) * 1e3, 1) if video else None,
              "audio_latency_ms": round(statistics.median(audio) * 1e3, 1) if audio else None}
    if video and audio:
        result["offset_ms"] = round(result["audio_latency_ms"] - result["video_latency_ms"], 1)
        result["audio_latency_range_ms"] = [round(min(audio) * 1e3, 1),
                                            round(max(audio) * 1e3, 1)]
    return result


CLIENT_MARGIN_S = 60.0  # the client's connections and its report, past its measured time


async def measure(url: str, seconds: float, click_every: float = 1.0) -> dict:
    """The offset over `seconds` after the warm-up, a click every `click_every` seconds
    (a click is told from the next one only while its latency is under that), measured
    by the performer and the viewer in a process of their own (`python -m
    benchmarks.av_sync --client URL`): their video coding stays out of the server's."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.av_sync", "--client", url, "--seconds",
        str(seconds), "--click-every", str(click_every),
        cwd=Path(__file__).resolve().parent.parent, stdout=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(),
                                        WARMUP_S + seconds + CLIENT_MARGIN_S)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"the measuring client failed ({proc.returncode})")
    return json.loads(out.decode().strip().splitlines()[-1])


async def measure_here(url: str, seconds: float, click_every: float = 1.0) -> dict:
    """`measure`, with the performer and the viewer in this process."""
    click = ClickTrack(every=click_every)
    camera = LoopbackClient([f for f, _ in performer_frames()], direction="sendonly",
                            audio=click)
    viewer = LoopbackViewer(audio=True)
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "whip", data=(await camera.offer())["sdp"],
                             headers=SDP) as res:
            if res.status != 201:
                raise RuntimeError(f"WHIP refused: {res.status} {await res.text()}")
            stream = res.headers["Dancenow-Stream"]
            await camera.answer({"sdp": await res.text(), "type": "answer"})
        async with http.post(f"{url}whep/{stream}", data=await viewer.offer(),
                             headers=SDP) as res:
            if res.status != 201:
                raise RuntimeError(f"WHEP refused: {res.status} {await res.text()}")
            await viewer.answer(await res.text())
        since = time.perf_counter() + WARMUP_S
        await asyncio.sleep(WARMUP_S + seconds)
    result = offset(camera, click, viewer, since)
    await viewer.close()
    await camera.close()
    return result


def markdown(report: dict) -> str:
    r, m = report["result"], report["machine"]
    return "\n".join([
        f"# Sound and picture at a viewer ({m['cores']} cores, {m['cpu']})", "",
        f"`{report['command']}`", "",
        "A click every few seconds from the performer (WHIP, aiortc) against the frame "
        "codes of its avatar, at a WHEP viewer (aiortc); `demo-live`; the server in the "
        "benchmark's process, the performer and the viewer in one of their own.", "",
        "| clicks | avatar frames | audio latency ms (range) | video latency ms | offset ms |",
        "|---|---|---|---|---|",
        f"| {r['clicks']} | {r['video_frames']} | {r['audio_latency_ms']} "
        f"({r.get('audio_latency_range_ms')}) | {r['video_latency_ms']} | "
        f"{r.get('offset_ms')} |", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--click-every", type=float, default=1.0, metavar="S",
                        help="seconds between clicks (a click's latency must stay under it)")
    parser.add_argument("--client", metavar="URL",
                        help="be the measuring performer and viewer of the server at URL and "
                             "print the result as JSON (what the benchmark runs itself)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    if args.client:
        result = asyncio.run(measure_here(args.client, args.seconds, args.click_every))
        sys.stdout.write(json.dumps(result) + "\n")
        return 0

    async def run() -> dict:
        async with serving(demo_app()) as url:
            return await measure(url, args.seconds, args.click_every)

    report = {"command": command_line("benchmarks.av_sync", argv), "machine": machine(),
              "result": asyncio.run(run())}
    write_results(args.out, "av_sync", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
