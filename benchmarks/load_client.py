"""One session of the load benchmark (`benchmarks.serve`), in a process of its own.

A `server.loopback.LoopbackClient` sends the synthetic performer at up to 30 fps (as
many as its session asks for on the control channel) and receives the avatar; the frame
code of each avatar frame gives its round trip, from capture in this client to arrival
back in it. It speaks JSON lines on stdout:

* `{"session", "secret", "answer_ms"}` once the offer is answered (`answer_ms`: from
  sending it to the answer: the session placed, its pipeline loaded);
* `{"live": frames}` once avatar frames arrive;
* after the first line on stdin (or its end), `--warmup` seconds, then `--seconds` of
  measuring: `{"report": {...}}` with the frames received per second, the round trip
  p50/p95 in ms, how many frames and round trips that took, the session's id and secret;
* `{"error": reason}` instead, when the offer is refused, the avatar never comes or the
  connection fails; the process then exits with 1.

After its report it waits for another line on stdin (or its end) and closes its
connection. Every wait is bounded.

    python -m benchmarks.load_client URL [--seconds 10] [--size 480] < /dev/null
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

import aiohttp
import numpy as np

from benchmarks.session_client import until_live
from server.loopback import LoopbackClient, performer_frames

log = logging.getLogger("benchmarks.load_client")
LIVE_TIMEOUT_S = 90.0  # a session going live on a busy machine
HTTP_TIMEOUT_S = 60.0  # the offer's answer (the server opens the session's pipeline first)
STDIN_TIMEOUT_S = 600.0  # the parent's next line
TRIM_EVERY_S = 1.0


def say(**message: object) -> None:
    """One JSON line on stdout: this process's protocol with its parent."""
    print(json.dumps(message), flush=True)


def percentile_ms(seconds: list[float], q: float) -> float | None:
    """The `q`th percentile of `seconds`, in ms, rounded to 0.1 (None for no samples)."""
    if not seconds:
        return None
    return round(float(np.percentile(np.asarray(seconds) * 1e3, q)), 1)


def window_report(arrivals: list[float], round_trips: list[tuple[float, float]],
                  start: float, end: float) -> dict:
    """Frames received per second and round trips of the frames that arrived within
    [start, end] (perf_counter seconds); `round_trips` holds (arrival, seconds) pairs."""
    frames = sum(1 for t in arrivals if start <= t <= end)
    trips = [rt for t, rt in round_trips if start <= t <= end]
    span = end - start
    return {"received_fps": round(frames / span, 2) if span > 0 else 0.0,
            "frames": frames, "round_trips": len(trips),
            "round_trip_p50_ms": percentile_ms(trips, 50),
            "round_trip_p95_ms": percentile_ms(trips, 95),
            "seconds": round(span, 2)}


async def _stdin_line() -> str:
    """The parent's next line ("" at the end of stdin), bounded in time."""
    read = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return await asyncio.wait_for(read, STDIN_TIMEOUT_S)


async def _trim_images(client: LoopbackClient) -> None:
    """Drop the images of the frames received (their arrival times are all that is
    measured), so that memory stays flat however long the client runs."""
    done = 0
    while True:
        await asyncio.sleep(TRIM_EVERY_S)
        received = client.received
        upto = len(received) - 1  # the newest frame may still be in use
        for i in range(done, max(done, upto)):
            received[i] = (received[i][0], None)
        done = max(done, upto)


async def run(url: str, seconds: float, warmup: float, size: int) -> int:
    client = LoopbackClient([f for f, _ in performer_frames(seconds=2.0, size=size, fps=30)])
    trim = asyncio.ensure_future(_trim_images(client))
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            offer = await client.offer()
            asked = time.perf_counter()
            async with http.post(url + "offer", json=offer) as res:
                if res.status != 200:
                    say(error=f"offer refused: {res.status} {(await res.text())[:200]}")
                    return 1
                answer = await res.json()
            answer_ms = (time.perf_counter() - asked) * 1000
        say(session=answer["session"], secret=answer["secret"], answer_ms=round(answer_ms, 1))
        await client.answer(answer)
        await until_live(client, LIVE_TIMEOUT_S)
        say(live=len(client.received))
        await _stdin_line()
        await asyncio.sleep(warmup)
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        end = time.perf_counter()
        report = window_report([t for t, _ in client.received], list(client.round_trips),
                               start, end)
        say(report={**report, "session": answer["session"], "secret": answer["secret"]})
        await _stdin_line()
        return 0
    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
        say(error=f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        trim.cancel()
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's address, ending in /")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="seconds after the start line, before measuring")
    parser.add_argument("--size", type=int, default=480, help="camera frame size")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    url = args.url if args.url.endswith("/") else args.url + "/"
    return asyncio.run(run(url, args.seconds, args.warmup, args.size))


if __name__ == "__main__":
    sys.exit(main())
