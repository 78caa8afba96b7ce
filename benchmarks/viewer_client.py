"""WHEP viewers of one stream in a process of their own, for the audience benchmark.

Opens `--viewers` players of the stream (`--decoding` of them decode; the others count
the frames that arrive whole, as players elsewhere would cost this machine nothing), says
`{"ready": n}` once each has frames, records every decoded frame's arrival and frame code
for `--seconds`, then says `{"viewers": [{"decoded", "fps", "arrivals": [[code, t],
...]}, ...]}` (t: this machine's monotonic clock, the one `time.perf_counter` reads),
ends its viewers (DELETE) and exits.

    python -m benchmarks.viewer_client URL STREAM [--viewers 4] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time

import aiohttp

from server.loopback import LoopbackViewer

log = logging.getLogger("benchmarks.viewer_client")
READY_TIMEOUT_S = 60.0


async def run(url: str, stream: str, count: int, seconds: float, decoding: int) -> int:
    viewers = [LoopbackViewer(decode=i < decoding) for i in range(count)]
    resources = []
    async with aiohttp.ClientSession() as http:
        for viewer in viewers:
            async with http.post(f"{url}whep/{stream}", data=await viewer.offer(),
                                 headers={"Content-Type": "application/sdp"}) as res:
                if res.status != 201:
                    log.error("viewer refused: %s %s", res.status, await res.text())
                    return 1
                resources.append(res.headers["Location"])
                await viewer.answer(await res.text())
        start = time.perf_counter()
        while not all(_frames(v) >= 3 for v in viewers):
            if time.perf_counter() - start > READY_TIMEOUT_S:
                log.error("viewers without frames after %.0f s", READY_TIMEOUT_S)
                return 1
            await asyncio.sleep(0.1)
        print(json.dumps({"ready": count}), flush=True)
        begin = time.perf_counter()
        counts = [_frames(v) for v in viewers]
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - begin
        report = [{"decoded": v.decode,
                   "fps": round(v.fps(begin), 2) if v.decode else
                   round((_frames(v) - n) / elapsed, 2),
                   "arrivals": [[c, round(t, 4)] for t, c in v.received
                                if t >= begin and c is not None]}
                  for v, n in zip(viewers, counts, strict=True)]
        print(json.dumps({"viewers": report}), flush=True)
        for resource in resources:
            async with http.delete(url.rstrip("/") + resource):
                pass
    for viewer in viewers:
        await viewer.close()
    return 0


def _frames(viewer: LoopbackViewer) -> int:
    """Frames the viewer has: decoded ones, or those that arrived whole if it does not
    decode."""
    if viewer.decode or viewer.arrivals is None:
        return len(viewer.received)
    return viewer.arrivals.frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's address, ending in /")
    parser.add_argument("stream", help="the stream's name")
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--decoding", type=int, default=None, metavar="N",
                        help="how many of the viewers decode (default: all); the others "
                             "count the frames that arrive whole, as players elsewhere")
    parser.add_argument("--nice", type=int, default=0,
                        help="run this process this many steps nicer (0-19)")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    decoding = args.viewers if args.decoding is None else args.decoding
    return asyncio.run(run(args.url, args.stream, args.viewers, args.seconds, decoding))


if __name__ == "__main__":
    sys.exit(main())
