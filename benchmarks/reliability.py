"""Reliability of `dancenow serve`: leaks and a soak, against the real server in a process
of its own, with each client in a process of its own (`benchmarks.session_client`).

* **Leak:** `--sessions` sessions opened and ended in every way a client ends one (a stop
  request, a peer connection closed without a word, a client process killed, a client
  that never connects), `--concurrency` at a time. The server's threads and open file
  descriptors (from /proc) are read once a warm-up round of each way is over and again
  once the last session is gone; `/stats` must be empty. The threads of the server's pool
  for blocking work (`dancenow-io`) are counted apart: the pool starts them as work comes,
  up to its bound, and keeps them.
  For each way: how long its slot stayed taken after the client ended (for `never`, after
  the answer).
* **Soak:** one session for `--soak` seconds; every `--every` seconds the frames received
  per second and the server's threads, descriptors and resident memory.

Bounded: every wait has a limit. Results: `results/reliability.json` and `.md`.

    python -m benchmarks.reliability [--sessions 30] [--soak 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks.machine import machine, reference_ms
from benchmarks.report import command_line, write_results
from benchmarks.session_client import WAYS
from engine.avatar import DEMO_LIVE_AVATAR
from server.app import IO_POOL, io_workers

log = logging.getLogger("benchmarks.reliability")
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 120.0  # the server loading its avatar
MESSAGE_TIMEOUT_S = 90.0  # a client's next line (a session going live on a busy machine)
SETTLE_TIMEOUT_S = 15.0  # threads and descriptors coming back after the last session


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """`dancenow serve` running in a process of its own; its resources read from /proc."""

    proc: subprocess.Popen
    url: str

    def threads(self) -> Counter[str]:
        """The process's threads by their native name."""
        names: Counter[str] = Counter()
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                names[Path(f"/proc/{self.proc.pid}/task/{task}/comm").read_text().strip()] += 1
        return names

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def resources(self) -> dict:
        """Threads (those of the server's pool for blocking work apart), open descriptors
        and resident memory."""
        threads = self.threads()
        pool = threads.pop(IO_POOL, 0)
        return {"threads": sum(threads.values()), "io_pool_threads": pool, "fds": self.fds(),
                "rss_mb": round(self.rss_mb(), 1)}


def _wait_listening(server: ServerProcess, log_path: Path) -> None:
    start = time.perf_counter()
    while time.perf_counter() - start < START_TIMEOUT_S:
        if server.proc.poll() is not None:
            tail = log_path.read_text()[-2000:]
            raise RuntimeError(f"dancenow serve exited ({server.proc.returncode}):\n{tail}")
        host, port = server.url.split("//", 1)[1].strip("/").rsplit(":", 1)
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)),
                                                                    timeout=1):
            return
        time.sleep(0.2)
    raise TimeoutError(f"dancenow serve did not listen within {START_TIMEOUT_S:.0f} s")


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM to a process started here, and SIGKILL if it is still there `grace_s`
    later."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)


@contextlib.contextmanager
def serving(options: list[str], env: dict[str, str] | None = None,
            host: str = "127.0.0.1") -> Iterator[ServerProcess]:
    """`dancenow serve <options>` on a free port of `host` until the block ends (then
    SIGTERM, and SIGKILL if it is still there 10 s later); its log goes to a temporary
    file, shown if it fails to start."""
    port = free_port(host)
    with tempfile.TemporaryDirectory(prefix="dancenow-serve-") as tmp:
        log_path = Path(tmp) / "serve.log"
        with log_path.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dancenow", "serve", "--host", host, "--port",
                 str(port), *options],
                cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                stderr=subprocess.STDOUT)
        server = ServerProcess(proc, f"http://{host}:{port}/")
        try:
            _wait_listening(server, log_path)
            yield server
        finally:
            stop_process(proc)


class Client:
    """One `benchmarks.session_client` process."""

    def __init__(self, proc: asyncio.subprocess.Process, way: str) -> None:
        self.proc = proc
        self.way = way

    @classmethod
    async def start(cls, url: str, way: str, report: float | None = None) -> Client:
        args = [url, way] + (["--report", str(report)] if report else [])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.session_client", *args, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(proc, way)

    async def message(self, timeout: float = MESSAGE_TIMEOUT_S) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            code = await asyncio.wait_for(self.proc.wait(), 10)
            raise RuntimeError(f"the {self.way} client exited ({code}) before saying more")
        return json.loads(line)

    async def end(self) -> None:
        """End the session this client's way (a kill for `kill`) and wait for the process."""
        if self.way == "kill":
            self.proc.kill()
        elif self.proc.returncode is None:
            self.proc.stdin.write(b"end\n")
            await self.proc.stdin.drain()
        code = await asyncio.wait_for(self.proc.wait(), 30)
        if self.way != "kill" and code != 0:
            raise RuntimeError(f"the {self.way} client failed ({code})")

    def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()


def _http() -> aiohttp.ClientSession:
    """A client that closes each connection after its request, so that none stays open in
    the server between two readings of its descriptors."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def _stats(http: aiohttp.ClientSession, url: str, secret: str | None = None) -> dict:
    headers = {"X-Session-Secret": secret} if secret else {}
    async with http.get(url + "stats", headers=headers) as res:
        return await res.json()


async def _gone_after(http: aiohttp.ClientSession, url: str, secret: str, since: float,
                      timeout: float) -> float:
    """Seconds from `since` (perf_counter) until the session is no longer in /stats."""
    while time.perf_counter() - since < timeout:
        if not (await _stats(http, url, secret))["sessions"]:
            return time.perf_counter() - since
        await asyncio.sleep(0.05)
    raise TimeoutError(f"a session was still there {timeout:.0f} s after its client ended")


async def _one_session(http: aiohttp.ClientSession, url: str, way: str,
                       free_timeout: float) -> dict:
    """Open a session, see it live (unless `never`), end it `way`, time its slot's release."""
    client = await Client.start(url, way)
    try:
        session = await client.message()
        frames = 0
        if way != "never":
            frames = (await client.message())["live"]
        ended = time.perf_counter()
        await client.end()
        held = await _gone_after(http, url, session["secret"], ended, free_timeout)
    finally:
        client.kill()
    return {"way": way, "frames": frames, "slot_held_s": round(held, 2)}


async def _round(http: aiohttp.ClientSession, url: str, ways: list[str],
                 free_timeout: float) -> list[dict]:
    return list(await asyncio.gather(*(_one_session(http, url, w, free_timeout)
                                       for w in ways)))


async def _settled(server: ServerProcess, http: aiohttp.ClientSession, url: str,
                   target: dict | None) -> dict:
    """The server's resources once /stats is empty and (with `target`) its threads and
    descriptors are back at most where `target` has them, or the limit passed."""
    start = time.perf_counter()
    while True:
        now = server.resources()
        empty = (await _stats(http, url))["summary"]["count"] == 0
        back = target is None or (now["threads"] <= target["threads"]
                                  and now["fds"] <= target["fds"])
        if (empty and back) or time.perf_counter() - start > SETTLE_TIMEOUT_S:
            return {**now, "sessions": (await _stats(http, url))["summary"]["count"]}
        await asyncio.sleep(0.2)


async def leak(server: ServerProcess, sessions: int, concurrency: int,
               free_timeout: float) -> dict:
    """Warm-up (each way once), then `sessions` sessions in rounds of `concurrency`, ways
    taken in turn; resources before and after."""
    url = server.url
    async with _http() as http:
        warm = list(WAYS)
        for i in range(0, len(warm), concurrency):
            await _round(http, url, warm[i:i + concurrency], free_timeout)
        before = await _settled(server, http, url, None)
        ways = [WAYS[i % len(WAYS)] for i in range(sessions)]
        runs: list[dict] = []
        for i in range(0, sessions, concurrency):
            runs += await _round(http, url, ways[i:i + concurrency], free_timeout)
            log.info("leak: %d/%d sessions, %s", len(runs), sessions, server.resources())
        after = await _settled(server, http, url, before)
    held = {w: [r["slot_held_s"] for r in runs if r["way"] == w] for w in WAYS}
    return {"sessions": sessions, "concurrency": concurrency, "before": before, "after": after,
            "io_pool_bound": io_workers(concurrency),
            "slot_held_s": {w: {"count": len(v), "median": statistics.median(v), "max": max(v)}
                            for w, v in held.items() if v},
            "runs": runs}


async def soak(server: ServerProcess, seconds: float, every: float) -> dict:
    """One session for `seconds`; a sample of its frame rate and the server every `every`."""
    client = await Client.start(server.url, "close", report=every)
    samples = []
    try:
        await client.message()
        await client.message()  # live
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            fps = (await client.message(every * 3))["fps"]
            samples.append({"t_s": round(time.perf_counter() - start, 1), "fps": fps,
                            **server.resources()})
        await client.end()
    finally:
        client.kill()
    fps = [s["fps"] for s in samples]
    return {"seconds": seconds, "every_s": every, "samples": samples,
            "fps": {"min": min(fps), "median": statistics.median(fps)},
            **{k: {"first": samples[0][k], "last": samples[-1][k],
                   "max": max(s[k] for s in samples)}
               for k in ("threads", "io_pool_threads", "fds", "rss_mb")}}


def markdown(report: dict) -> str:
    m, lk = report["machine"], report["leak"]
    lines = [f"# Reliability of `dancenow serve` ({m['cores']} cores, {m['cpu']})", "",
             f"`{report['command']}`", "", f"Server: `dancenow serve {report['serve']}`; "
             f"reference (`demo-live` generator, one thread): {report['reference_ms']} ms",
             "",
             f"## Leak: {lk['sessions']} sessions, {lk['concurrency']} at a time", "",
             f"| | threads | pool threads (at most {lk['io_pool_bound']}) | descriptors "
             "| resident MB | sessions in /stats |", "|---|---|---|---|---|---|"]
    for name in ("before", "after"):
        r = lk[name]
        lines.append(f"| {name} | {r['threads']} | {r['io_pool_threads']} | {r['fds']} | "
                     f"{r['rss_mb']} | {r['sessions']} |")
    lines += ["", "| way the client ended | sessions | slot held, median s | max s |",
              "|---|---|---|---|"]
    for way, h in lk["slot_held_s"].items():
        lines.append(f"| {way} | {h['count']} | {h['median']:.2f} | {h['max']:.2f} |")
    if "soak" in report:
        sk = report["soak"]
        lines += ["", f"## Soak: one session for {sk['seconds']:.0f} s", "",
                  f"Frames received per second: median {sk['fps']['median']:.1f}, "
                  f"lowest {sk['fps']['min']:.1f} (every {sk['every_s']:.0f} s).", "",
                  "| | first | last | max |", "|---|---|---|---|"]
        for k, name in (("threads", "threads"), ("io_pool_threads", "pool threads"),
                        ("fds", "descriptors"),
                        ("rss_mb", "resident MB")):
            lines.append(f"| {name} | {sk[k]['first']} | {sk[k]['last']} | {sk[k]['max']} |")
    return "\n".join(lines) + "\n"


async def _measure(server: ServerProcess, args: argparse.Namespace) -> dict:
    report: dict = {"leak": await leak(server, args.sessions, args.concurrency,
                                       args.connect_timeout + 30)}
    if args.soak > 0:
        report["soak"] = await soak(server, args.soak, args.every)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30, help="sessions of the leak run")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="sessions at once (the server's --max-sessions)")
    parser.add_argument("--connect-timeout", type=float, default=10.0,
                        help="the server's --connect-timeout")
    parser.add_argument("--media-timeout", type=float, default=5.0,
                        help="the server's --media-timeout")
    parser.add_argument("--soak", type=float, default=300.0,
                        help="seconds of the soak session (0: none)")
    parser.add_argument("--every", type=float, default=10.0, help="soak sample interval")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    options = ["--max-sessions", str(args.concurrency),
               "--connect-timeout", str(args.connect_timeout),
               "--media-timeout", str(args.media_timeout)]
    reference = reference_ms(DEMO_LIVE_AVATAR)
    with serving(options) as server:
        report = asyncio.run(_measure(server, args))
    report.update(command=command_line("benchmarks.reliability", argv),
                  serve=" ".join(options), machine=machine(),
                  reference_ms=round(reference, 1))
    write_results(args.out, "reliability", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
