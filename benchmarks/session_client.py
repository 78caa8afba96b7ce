"""A client of `dancenow serve` in its own process, ending its session one given way.

The reliability benchmark and the leak test start one of these per session, so that a
client can be killed as a crashed browser would be. It speaks JSON lines on stdout:

* `{"session", "secret"}` once the offer is answered;
* `{"live": frames}` once avatar frames arrive (not for `never`);
* with `--report S`, `{"fps": ...}` every S seconds: frames received per second since the
  last report.

Then it waits for a line on stdin and ends the session `way`:

* `stop`: `POST /control {"action": "stop"}`, then closes its connection;
* `close`: closes its peer connection without asking anything;
* `kill`: does nothing (its parent kills the process);
* `never`: sends an offer without any ICE candidate and never reads the answer, so the
  server's side can never connect; the process exits at once.

    python -m benchmarks.session_client URL WAY [--report S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time

import aiohttp

from server.loopback import LoopbackClient, performer_frames

log = logging.getLogger("benchmarks.session_client")
WAYS = ("stop", "close", "kill", "never")
LIVE_FRAMES = 5  # avatar frames received before the session counts as live
LIVE_TIMEOUT_S = 60.0


def _say(**message: object) -> None:
    print(json.dumps(message), flush=True)


def without_candidates(sdp: str) -> str:
    """The offer with every ICE candidate (and the end-of-candidates line) removed."""
    lines = sdp.splitlines()
    kept = [ln for ln in lines if not ln.startswith(("a=candidate", "a=end-of-candidates"))]
    return "\r\n".join(kept) + "\r\n"


async def _stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def until_live(client: LoopbackClient, timeout: float = LIVE_TIMEOUT_S) -> None:
    """Once `LIVE_FRAMES` avatar frames came back; TimeoutError after `timeout` s."""
    start = time.perf_counter()
    while len(client.received) < LIVE_FRAMES:
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"no avatar frames within {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def _report(client: LoopbackClient, every: float) -> None:
    seen, last = len(client.received), time.perf_counter()
    while True:
        await asyncio.sleep(every)
        now, count = time.perf_counter(), len(client.received)
        _say(fps=round((count - seen) / (now - last), 2))
        seen, last = count, now


async def run(url: str, way: str, report: float | None) -> int:
    client = LoopbackClient([f for f, _ in performer_frames(seconds=1.0, size=192)])
    offer = await client.offer()
    if way == "never":
        offer["sdp"] = without_candidates(offer["sdp"])
    async with aiohttp.ClientSession() as http:
        async with http.post(url + "offer", json=offer) as res:
            if res.status != 200:
                log.error("offer refused: %s %s", res.status, await res.text())
                return 1
            answer = await res.json()
        _say(session=answer["session"], secret=answer["secret"])
        if way == "never":
            await client.pc.close()
            return 0
        await client.answer(answer)
        await until_live(client)
        _say(live=len(client.received))
        reporter = asyncio.ensure_future(_report(client, report)) if report else None
        await _stdin_line()
        if reporter is not None:
            reporter.cancel()
        if way == "stop":
            body = {"session": answer["session"], "secret": answer["secret"],
                    "action": "stop"}
            async with http.post(url + "control", json=body) as res:
                if res.status != 200:
                    log.error("stop refused: %s %s", res.status, await res.text())
                    return 1
    await client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the server's address, ending in /")
    parser.add_argument("way", choices=WAYS, help="how the session ends")
    parser.add_argument("--report", type=float, default=None, metavar="S",
                        help="print the frames received per second every S seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        return asyncio.run(run(args.url, args.way, args.report))
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
