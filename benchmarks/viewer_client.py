"""WHEP viewers of one stream in a process of their own, for the audience benchmark.

Opens `--viewers` players of the stream, says `{"ready": n}` once each has received
frames, records every frame's arrival and frame code for `--seconds`, then says
`{"viewers": [{"fps", "arrivals": [[code, t], ...]}, ...]}` (t: this machine's monotonic
clock, the one `time.perf_counter` reads), ends its viewers (DELETE) and exits.

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


async def run(url: str, stream: str, count: int, seconds: float) -> int:
    viewers = [LoopbackViewer() for _ in range(count)]
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
        while not all(len(v.received) >= 3 for v in viewers):
            if time.perf_counter() - start > READY_TIMEOUT_S:
                log.error("viewers without frames after %.0f s", READY_TIMEOUT_S)
                return 1
            await asyncio.sleep(0.1)
        print(json.dumps({"ready": count}), flush=True)
        begin = time.perf_counter()
        await asyncio.sleep(seconds)
        report = [{"fps": round(v.fps(begin), 2),
                   "arrivals": [[c, round(t, 4)] for t, c in v.received
                                if t >= begin and c is not None]} for v in viewers]
        print(json.dumps({"viewers": report}), flush=True)
        for resource in resources:
            async with http.delete(url.rstrip("/") + resource):
                pass
    for viewer in viewers:
        await viewer.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's address, ending in /")
    parser.add_argument("stream", help="the stream's name")
    parser.add_argument("--viewers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--nice", type=int, default=0,
                        help="run this process this many steps nicer (0-19)")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    return asyncio.run(run(args.url, args.stream, args.viewers, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
