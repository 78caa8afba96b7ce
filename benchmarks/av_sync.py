"""Sound and picture at a viewer: how far the performer's audio is from its avatar.

A performer (aiortc, WHIP) sends the synthetic dancer with a frame code in each camera
frame, and a click track (a 10 ms click every second) as its audio; a WHEP viewer
(aiortc, no audio prefetch: arrival is what is timed) receives the avatar and the audio.
For each click: when it arrived at the viewer less when the performer sent it (audio
latency); for each avatar frame: when it arrived less when its camera frame was captured
(video latency). The offset is the median audio latency less the median video latency:
positive when the sound comes late. The server runs in this process (`demo-live`).

Results: `results/av_sync.json` and `.md`.

    python -m benchmarks.av_sync [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
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


async def measure(url: str, seconds: float) -> dict:
    click = ClickTrack(every=1.0)
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
        "A click a second from the performer (WHIP, aiortc) against the frame codes of its "
        "avatar, at a WHEP viewer (aiortc); `demo-live`, the server in the same process.", "",
        "| clicks | avatar frames | audio latency ms (range) | video latency ms | offset ms |",
        "|---|---|---|---|---|",
        f"| {r['clicks']} | {r['video_frames']} | {r['audio_latency_ms']} "
        f"({r.get('audio_latency_range_ms')}) | {r['video_latency_ms']} | "
        f"{r.get('offset_ms')} |", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    async def run() -> dict:
        async with serving(demo_app()) as url:
            return await measure(url, args.seconds)

    report = {"command": command_line("benchmarks.av_sync", argv), "machine": machine(),
              "result": asyncio.run(run())}
    write_results(args.out, "av_sync", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
