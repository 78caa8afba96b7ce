"""One performer and an audience: 0, 1, 4 and 8 WHEP viewers of the performer's stream, on
this machine, against `dancenow serve` in a process of its own.

The performer is an aiortc client of the page's path (`POST /offer`, camera and avatar on
one connection) in this process; the viewers are `benchmarks.viewer_client` players in a
process of their own on the same CPUs: `--decoding` of them (1) decode, for their round
trips; the others count the frames that arrive whole without decoding them, standing for
players on other machines (decoding eight streams here would take the CPUs the server
needs). Per level, over `--seconds` once every viewer receives: the performer's frames
per second and round trip (capture to arrival, read from the frame code), each viewer's
frames per second and the decoding viewers' round trips (from the performer's capture to
the viewer's arrival), and the server's encoding time for the audience. The levels run
in the order given; the default starts and ends with none, and the performer's latency
at each level is compared with the mean of those.

Results: `results/audience.json` and `.md`.

    python -m benchmarks.audience [--levels 0 1 4 8 0] [--seconds 10]
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
import numpy as np

from benchmarks.machine import machine, reference_ms
from benchmarks.reliability import ROOT, serving
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_LIVE_AVATAR
from server.loopback import LoopbackClient, frame_rate, performer_frames

log = logging.getLogger("benchmarks.audience")
RESULTS = Path(__file__).resolve().parent / "results"
READY_TIMEOUT_S = 90.0


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"p50_ms": None, "p95_ms": None}
    ms = np.array(values) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1)}


async def _viewers(url: str, stream: str, count: int, seconds: float, nice: int,
                   decoding: int) -> dict:
    """`count` viewers in their own process for `seconds`; their report."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.viewer_client", "--viewers", str(count),
        "--seconds", str(seconds), "--nice", str(nice), "--decoding",
        str(min(decoding, count)), "--", url, stream,  # a stream's name may begin with "-"
        cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)
        if not line:
            raise RuntimeError(f"the viewers' process exited ({await proc.wait()})")
        line = await asyncio.wait_for(proc.stdout.readline(), seconds + 60)
        if not line:
            raise RuntimeError(f"the viewers' process exited ({await proc.wait()})")
        await asyncio.wait_for(proc.wait(), 30)
        return json.loads(line)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _level(http: aiohttp.ClientSession, url: str, performer: LoopbackClient,
                 answer: dict, count: int, seconds: float, nice: int, decoding: int) -> dict:
    if count:
        report = await _viewers(url, answer["stream"], count, seconds, nice, decoding)
        arrivals = [v["arrivals"] for v in report["viewers"]]
        fps = [v["fps"] for v in report["viewers"]]
        # the window: the viewers' recording, on the clock perf_counter reads
        times = [t for a in arrivals for _, t in a]
        start, end = (min(times), max(times)) if times else (0.0, 0.0)
    else:
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        end, arrivals, fps = start + seconds, [], []
    rts = [rt for t, rt in performer.round_trips if start <= t <= end]
    performer_fps = frame_rate([t for t, _ in performer.received if start <= t <= end])
    viewer_rts = []
    for a in arrivals:
        own = [t - performer.camera.sent[c] for c, t in a if c in performer.camera.sent]
        viewer_rts.append([rt for rt in own if 0 < rt < 5])
    secret = {"X-Session-Secret": answer["secret"]}
    async with http.get(url + "stats", headers=secret) as res:
        stats = (await res.json())["sessions"][0]
    return {"viewers": count, "performer_fps": round(performer_fps, 1),
            "performer_round_trip": _percentiles(rts),
            "viewer_fps": fps,
            "viewer_round_trip_p50_ms": [_percentiles(v)["p50_ms"] for v in viewer_rts],
            "server_fps_out": stats.get("fps_out"),
            "stream_encode_ms": stats.get("stream_encode_ms")}


async def measure(url: str, levels: list[int], seconds: float, nice: int,
                  decoding: int) -> list[dict]:
    frames = [f for f, _ in performer_frames()]
    performer = LoopbackClient(frames)
    rows = []
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "offer", json=await performer.offer()) as res:
            if res.status != 200:
                raise RuntimeError(f"offer refused: {res.status} {await res.text()}")
            answer = await res.json()
        await performer.answer(answer)
        for _ in range(int(READY_TIMEOUT_S * 10)):
            if len(performer.received) >= 30:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the performer receives no avatar")
        await asyncio.sleep(3.0)  # past the start-up
        for count in levels:
            row = await _level(http, url, performer, answer, count, seconds, nice, decoding)
            log.info("%d viewers: performer %.1f fps, round trip p50 %s ms; viewers %s fps",
                     count, row["performer_fps"], row["performer_round_trip"]["p50_ms"],
                     row["viewer_fps"])
            rows.append(row)
    await performer.close()
    return rows


def _compare(rows: list[dict]) -> None:
    """Each level's performer p50 against the mean of the levels without viewers."""
    base = [r["performer_round_trip"]["p50_ms"] for r in rows if r["viewers"] == 0
            and r["performer_round_trip"]["p50_ms"]]
    mean = statistics.mean(base) if base else None
    for r in rows:
        p50 = r["performer_round_trip"]["p50_ms"]
        r["performer_p50_vs_no_viewers"] = round(p50 / mean, 2) if mean and p50 else None


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# One performer and its audience ({m['cores']} cores, {m['cpu']})", "",
             f"`{report['command']}`", "",
             f"Server: `dancenow serve {report['serve']}`, `demo-live`; reference "
             f"(generator alone, one thread): {report['reference_ms']} ms. The viewers run in a "
             f"process of their own on the same CPUs, at nice {report['viewer_nice']}; "
             f"{report['decoding']} of them decode (its round trip), the others count the "
             "frames that arrive whole (players elsewhere).", "",
             "| viewers | performer fps | performer round trip p50 / p95 ms | vs none "
             "| viewer fps | viewer round trip p50 ms | encode ms per frame |",
             "|---|---|---|---|---|---|---|"]
    for r in report["levels"]:
        rt = r["performer_round_trip"]
        vs = f"{r['performer_p50_vs_no_viewers']:.2f}x" if r["performer_p50_vs_no_viewers"] \
            else ""
        vfps = ", ".join(f"{f:.1f}" for f in r["viewer_fps"]) or "-"
        vrt = ", ".join(f"{x:.0f}" for x in r["viewer_round_trip_p50_ms"] if x) or "-"
        lines.append(f"| {r['viewers']} | {r['performer_fps']} | {rt['p50_ms']} / "
                     f"{rt['p95_ms']} | {vs} | {vfps} | {vrt} | "
                     f"{r['stream_encode_ms'] or '-'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", nargs="+", type=int, default=[0, 1, 4, 8, 0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--avatar", default=str(DEMO_LIVE_AVATAR))
    parser.add_argument("--decoding", type=int, default=1, metavar="N",
                        help="viewers that decode (for their round trips); the others count "
                             "the frames that arrive whole, standing for players elsewhere "
                             "(decoding 8 streams would take this machine's CPUs)")
    parser.add_argument("--viewer-nice", type=int, default=19,
                        help="nice value of the viewers' process: on a small machine they "
                             "stand for players elsewhere, and yield the CPUs to the server")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if min(args.levels) < 0:
        parser.error("viewer counts are 0 or more")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    options = ["--avatar", args.avatar, "--max-sessions", "1",
               "--max-viewers", str(max(args.levels + [1]))]
    reference = reference_ms(args.avatar)
    with serving(options) as server:
        rows = asyncio.run(measure(server.url, args.levels, args.seconds, args.viewer_nice,
                                   args.decoding))
    _compare(rows)
    report = {"command": command_line("benchmarks.audience", argv),
              "serve": " ".join(options), "machine": machine(),
              "reference_ms": round(reference, 1), "viewer_nice": args.viewer_nice,
              "decoding": args.decoding,
              "levels": rows}
    write_results(args.out, "audience", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
