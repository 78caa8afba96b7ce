"""Load: 1, 2, 4, 8 concurrent WebRTC sessions against `dancenow serve` on loopback.

The server is the real `dancenow serve` in a process of its own, and each session's
client is a process of its own too (`benchmarks.load_client`: a `server.loopback`
client sending a synthetic performer at up to 30 fps, as many as its session asks for,
and receiving the avatar), so no client shares the server's interpreter. The CPUs are
still shared: on a small machine the clients' own video coding competes with the
server.

Each level starts a fresh server with `--max-sessions` set to the level: every level
begins from the same state (no session of the previous level still closing, the pool
for blocking work sized as `dancenow serve` sizes it for that many sessions), as a server
configured for that load would be; the cost is the server's start (a few seconds) per
level. The server listens on a free port of 127.0.0.1 and is stopped (SIGTERM, then
SIGKILL) once its level is measured. With `--server-url`, no server is started: every
level is measured against that one (a server or a front door of several), and before a
level the benchmark waits for the previous level's sessions to leave its /stats.

Per level, once every client has connected (or failed to), each waits `--warmup`
seconds and measures for `--seconds`: frames received per second, round trip p50/p95
(capture in the client to arrival back, from the frame code). Then the server's own
statistics of each session (GET /stats with the session's secret): its latency p50/p95
(the pipeline's, decoded camera frame to avatar frame; read every 5 s over the measured
time as its `latency_recent`, the last 5 s, and merged: the median p50, the highest
p95, so the warm-up is left out) and the camera rate it asked for. Per level: the mean
received fps, the fairness ratio (lowest session fps over the mean; 1 when every session
gets the same share) and the worst round trip.

With `--cluster` each level is measured twice, in turns: against one `dancenow serve`
and against `dancenow serve --cluster` as the front door of a local Ray cluster (a head
without slots and two nodes, on this same machine and its CPUs), and the report adds
what the cluster path adds: to the offer's answer (placing the session's actor on a
node, the median over sessions) and to the sessions' median round trip.

A client that fails to connect is reported as such in its level's row.

Bounded in time: every wait has a limit, and the client processes started are killed
(by their process id) if still there at the end of their level.
Results: `results/serve.json` and `results/serve.md`.

    python -m benchmarks.serve [--sessions 1 2 4 8] [--seconds 10] [--server-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.machine import machine, reference_ms
from benchmarks.reliability import serving
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from engine.pipeline.affinity import MAX_NICE

log = logging.getLogger("benchmarks.serve")
RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
CONNECT_TIMEOUT_S = 150.0  # a client's start, its offer answered and its session live
REPORT_MARGIN_S = 30.0  # a client's report, past its warm-up and measured time
EXIT_TIMEOUT_S = 10.0  # a client closing its connection and exiting
HTTP_TIMEOUT_S = 10.0  # one GET /stats
DRAIN_TIMEOUT_S = 30.0  # the previous level's sessions leaving a running server
POLL_S = 5.0  # the pipelines' recent-latency window (PipelineConfig.window_seconds)


# -- per-session and per-level numbers --------------------------------------------------------
def parse_line(line: bytes | str) -> dict:
    """One JSON line of a client (`benchmarks.load_client`) as a dict; ValueError for a
    line that is not a JSON object."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    message = json.loads(text)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {text.strip()[:80]!r}")
    return message


def session_row(index: int, report: dict | None, server: dict | None,
                error: str | None = None) -> dict:
    """One session's row: its client's report and the server's statistics of it (None
    for what is missing), or the reason it failed."""
    report, server = report or {}, server or {}
    latency = {k: None if v is None else round(v, 1)
               for k, v in (server.get("measured_latency") or server.get("latency")
                            or {}).items()}
    row = {"session": index, "id": report.get("session"),
           "answer_ms": report.get("answer_ms"),
           "received_fps": report.get("received_fps"),
           "frames": report.get("frames"),
           "round_trip_p50_ms": report.get("round_trip_p50_ms"),
           "round_trip_p95_ms": report.get("round_trip_p95_ms"),
           "server_latency_p50_ms": latency.get("p50_ms"),
           "server_latency_p95_ms": latency.get("p95_ms"),
           "send_fps_asked": server.get("send_fps_asked"),
           "server_fps_out": None if server.get("fps_out") is None else
           round(server["fps_out"], 2)}
    if error is not None or not report:
        row["error"] = error or "no report"
    return row


def fairness(fps: list[float]) -> float | None:
    """Lowest over mean frames per second (1: every session gets the same share; None
    without sessions or frames)."""
    if not fps:
        return None
    mean = sum(fps) / len(fps)
    return min(fps) / mean if mean > 0 else None


def _worst(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return max(values) if values else None


def summarize_level(count: int, rows: list[dict]) -> dict:
    """A level's summary from its sessions' rows: how many measured and failed, their
    received fps, its mean and fairness (over the measured sessions), and the worst
    round trip and server latency of any session."""
    measured = [r for r in rows if "error" not in r and r.get("received_fps") is not None]
    fps = [r["received_fps"] for r in measured]
    ratio = fairness(fps)
    return {"sessions": count, "measured": len(measured), "failed": count - len(measured),
            "errors": sorted({r["error"] for r in rows if "error" in r}),
            "received_fps": fps,
            "mean_fps": round(sum(fps) / len(fps), 2) if fps else None,
            "fairness": None if ratio is None else round(ratio, 3),
            "round_trip_p50_ms": _worst(measured, "round_trip_p50_ms"),
            "round_trip_p95_ms": _worst(measured, "round_trip_p95_ms"),
            "server_latency_p50_ms": _worst(measured, "server_latency_p50_ms"),
            "server_latency_p95_ms": _worst(measured, "server_latency_p95_ms"),
            "answer_ms_p50": _median(measured, "answer_ms"),
            "round_trip_p50_ms_median": _median(measured, "round_trip_p50_ms")}


def _median(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def cluster_added(single: dict, cluster: dict) -> dict:
    """What the cluster path adds at one level, from the two ways' summaries: to the
    offer's answer (placing the session's actor) and to the sessions' median round trip."""
    def added(key: str) -> float | None:
        if single.get(key) is None or cluster.get(key) is None:
            return None
        return round(cluster[key] - single[key], 1)
    return {"sessions": single["sessions"], "answer_ms_added": added("answer_ms_p50"),
            "round_trip_p50_ms_added": added("round_trip_p50_ms_median")}


# -- client processes -------------------------------------------------------------------------
def _reason(exc: BaseException) -> str:
    """What went wrong, in a few words: the message, or the kind of error without one."""
    return str(exc) or type(exc).__name__


@dataclass
class Client:
    """One `benchmarks.load_client` process and what it said."""

    index: int
    proc: asyncio.subprocess.Process
    session: dict = field(default_factory=dict)  # {"session", "secret"}
    report: dict | None = None
    error: str | None = None

    @classmethod
    async def start(cls, index: int, url: str, seconds: float, warmup: float,
                    size: int) -> Client:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.load_client", url, "--seconds", str(seconds),
            "--warmup", str(warmup), "--size", str(size), cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(index, proc)

    async def message(self, timeout: float) -> dict:
        """The client's next line; RuntimeError when it says `error` or exits first."""
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            code = await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
            raise RuntimeError(f"client exited ({code}) before saying more")
        message = parse_line(line)
        if "error" in message:
            raise RuntimeError(str(message["error"]))
        return message

    async def connect(self, timeout: float) -> bool:
        """Wait for the session's id and for its first avatar frames; False (and `error`
        set) when the client fails or the time runs out."""
        start = time.perf_counter()
        try:
            self.session = await self.message(timeout)
            await self.message(max(1.0, timeout - (time.perf_counter() - start)))
            return True
        except (TimeoutError, RuntimeError, ValueError) as exc:
            self.error = f"did not connect: {_reason(exc)}"
            return False

    async def send(self, line: str) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.write(line.encode() + b"\n")
                await self.proc.stdin.drain()

    async def measure(self, timeout: float) -> None:
        """Start the client's warm-up and measurement; wait for its report."""
        await self.send("measure")
        try:
            self.report = (await self.message(timeout))["report"]
        except (TimeoutError, RuntimeError, ValueError, KeyError) as exc:
            self.error = f"no report: {_reason(exc)}"

    async def end(self) -> None:
        """Let the client close its connection and exit (killed if it does not in time)."""
        await self.send("end")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
        self.kill()

    def kill(self) -> None:
        if self.proc.returncode is None:
            log.warning("killing client %d (pid %d)", self.index, self.proc.pid)
            self.proc.kill()


async def _get_stats(http: aiohttp.ClientSession, url: str, secret: str | None = None) -> dict:
    headers = {"X-Session-Secret": secret} if secret else {}
    async with http.get(url + "stats", headers=headers) as res:
        res.raise_for_status()
        return await res.json()


async def _session_stats(http: aiohttp.ClientSession, url: str, secret: str) -> dict | None:
    """The server's statistics of the session whose secret this is (None if gone)."""
    try:
        sessions = (await _get_stats(http, url, secret))["sessions"]
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        log.warning("GET /stats failed: %s", exc)
        return None
    return sessions[0] if sessions else None


async def _drained(http: aiohttp.ClientSession, url: str) -> None:
    """Wait (bounded) until the server counts no session, as before a level."""
    start = time.perf_counter()
    count = None
    while time.perf_counter() - start < DRAIN_TIMEOUT_S:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError, KeyError):
            count = (await _get_stats(http, url))["summary"]["count"]
            if count == 0:
                return
        await asyncio.sleep(0.5)
    log.warning("%s sessions still in %sstats after %.0f s", count, url, DRAIN_TIMEOUT_S)


async def _poll_latency(http: aiohttp.ClientSession, url: str, clients: list[Client],
                        warmup: float, seconds: float) -> dict[int, list[dict]]:
    """Each session's `latency_recent` (the pipeline's latency over its last
    `POLL_S` seconds), read every `POLL_S` seconds over the measured time."""
    polls: dict[int, list[dict]] = {c.index: [] for c in clients}
    await asyncio.sleep(warmup + POLL_S)
    for _ in range(max(1, round(seconds / POLL_S))):
        for c in clients:
            stats = await _session_stats(http, url, c.session["secret"])
            if stats is not None and stats.get("latency_recent"):
                polls[c.index].append(stats["latency_recent"])
        await asyncio.sleep(POLL_S)
    return polls


def merged_latency(polls: list[dict]) -> dict:
    """One p50 and p95 from several windows' readings: the median p50, the highest p95."""
    p50 = sorted(p["p50_ms"] for p in polls)
    return {"p50_ms": p50[len(p50) // 2], "p95_ms": max(p["p95_ms"] for p in polls)}


async def run_level(url: str, count: int, seconds: float, warmup: float, size: int) -> dict:
    """`count` client processes against the server at `url`: each session's row (its
    client's report and the server's statistics of it) and the level's summary."""
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    clients: list[Client] = []
    server: dict[int, dict | None] = {}
    async with aiohttp.ClientSession(timeout=timeout) as http:
        await _drained(http, url)
        try:
            for i in range(count):
                clients.append(await Client.start(i + 1, url, seconds, warmup, size))
            await asyncio.gather(*(c.connect(CONNECT_TIMEOUT_S) for c in clients))
            live = [c for c in clients if c.error is None]
            polls = asyncio.create_task(_poll_latency(http, url, live, warmup, seconds))
            await asyncio.gather(*(c.measure(warmup + seconds + REPORT_MARGIN_S)
                                   for c in live))
            latencies = await polls
            for c in live:
                server[c.index] = await _session_stats(http, url, c.session["secret"])
                if server[c.index] is not None and latencies.get(c.index):
                    server[c.index]["measured_latency"] = merged_latency(latencies[c.index])
            await asyncio.gather(*(c.end() for c in clients))
        finally:
            for c in clients:
                c.kill()
            for c in clients:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(c.proc.wait(), EXIT_TIMEOUT_S)
    rows = [session_row(c.index, {**(c.report or {}), "answer_ms": c.session.get("answer_ms")}
                        if c.report else None, server.get(c.index), c.error)
            for c in clients]
    for r in rows:
        if "error" in r:
            log.warning("%d session(s), client %d: %s", count, r["session"], r["error"])
    return {**summarize_level(count, rows), "clients": rows,
            "server": [s for s in server.values() if s is not None]}


# -- the report ---------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _level_line(level: dict) -> str:
    fps = ", ".join(f"{v:.1f}" for v in level["received_fps"]) or "—"
    failed = f"; {level['failed']} failed" if level["failed"] else ""
    return (f"| {level['sessions']} | {level['measured']}{failed} | {fps} | "
            f"{_fmt(level['mean_fps'], 1)} | {_fmt(level['fairness'], 2)} | "
            f"{_fmt(level['round_trip_p50_ms'])} | {_fmt(level['round_trip_p95_ms'])} | "
            f"{_fmt(level['server_latency_p50_ms'])} | "
            f"{_fmt(level['server_latency_p95_ms'])} | {_fmt(level.get('reference_ms'), 1)} |")


def markdown(report: dict) -> str:
    m = report["machine"]
    where = (f"`{report['server_url']}`, already running" if report.get("server_url") else
             "`dancenow serve` in its own process, started per level with `--max-sessions` "
             "set to the level")
    nice = (f"; the pipelines' compute threads at nice +{report['stage_nice']}"
            if report.get("stage_nice") else "")
    if report.get("compute_permits") is not None:
        nice += (f"; `--compute-permits {report['compute_permits']}`" +
                 (" (no turns: every step computes at once)"
                  if report["compute_permits"] == 0 else ""))
    lines = ["# Concurrent sessions on loopback", "", f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores. Server: {where}; avatar "
             f"`{report['avatar']}` on `{report['backend']}`, pose on "
             f"`{report['pose_backend']}`{nice}. Each session's client is a process of its "
             f"own (`benchmarks.load_client`) sending a {report['frame_size']} px synthetic "
             "performer at up to 30 fps (the rate its session asks for) and receiving the "
             f"avatar; measured for {report['seconds']:.0f} s after a "
             f"{report['warmup']:.0f} s warm-up once every client connected. The clients "
             "share the CPUs with the server, so their own video coding is part of the "
             "load.", "",
             "Round trip: capture in the client to arrival back in it, from the frame code "
             "(per level: the worst session's). Server latency: the session's pipeline, "
             "from its decoded frame to its avatar frame, read from `/stats` every 5 s "
             "over the measured time (median p50, highest p95; the worst session's). "
             "Fairness: the lowest session's received fps over the mean (1: equal "
             "shares). Reference: the avatar's generator alone on one thread just "
             "before the level (the machine's speed then).", "",
             "| sessions | measured | received fps per session | mean fps | fairness | "
             "round trip p50 ms | p95 ms | server latency p50 ms | p95 ms | reference ms |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    header = len(lines) - 2
    lines += [_level_line(level) for level in report["levels"]]
    lines += ["", "Per session:", "",
              "| sessions | session | received fps | round trip p50 ms | p95 ms | "
              "server latency p50 ms | p95 ms | fps asked |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for level in report["levels"]:
        for row in level["clients"]:
            if "error" in row:
                reason = row["error"].replace("|", "/")
                lines.append(f"| {level['sessions']} | {row['session']} | "
                             f"failed: {reason} | | | | | |")
                continue
            lines.append(f"| {level['sessions']} | {row['session']} | "
                         f"{_fmt(row['received_fps'], 1)} | "
                         f"{_fmt(row['round_trip_p50_ms'])} | "
                         f"{_fmt(row['round_trip_p95_ms'])} | "
                         f"{_fmt(row['server_latency_p50_ms'])} | "
                         f"{_fmt(row['server_latency_p95_ms'])} | "
                         f"{_fmt(row['send_fps_asked'])} |")
    if report.get("cluster_levels"):
        lines += ["", "The same levels against the front door of a local two-node Ray "
                  "cluster (`dancenow serve --cluster`), measured in turns with the above:", "",
                  lines[header], lines[header + 1]]
        lines += [_level_line(level) for level in report["cluster_levels"]]
        lines += ["", "What the cluster path adds (cluster less one process):", "",
                  "| sessions | answer ms, one process | cluster | added | round trip p50 "
                  "ms (median session), one process | cluster | added |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for single, clustered, added in zip(report["levels"], report["cluster_levels"],
                                            report["cluster_added"], strict=True):
            lines.append(f"| {single['sessions']} | {_fmt(single.get('answer_ms_p50'))} | "
                         f"{_fmt(clustered.get('answer_ms_p50'))} | "
                         f"{_fmt(added['answer_ms_added'])} | "
                         f"{_fmt(single.get('round_trip_p50_ms_median'))} | "
                         f"{_fmt(clustered.get('round_trip_p50_ms_median'))} | "
                         f"{_fmt(added['round_trip_p50_ms_added'])} |")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _cluster_server(args: argparse.Namespace, count: int) -> Iterator[str]:
    """The front door of a local Ray cluster on this machine (`dancenow serve --cluster`):
    a head without slots and two nodes of ceil(count / 2) slots each, all sharing this
    machine's CPUs as the one-process server does."""
    from ray.cluster_utils import Cluster

    from server.cluster import HEALTH_CHECKS, SLOT

    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the cluster's processes inherit it
    try:
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 0, "include_dashboard": False, "_system_config": HEALTH_CHECKS})
        try:
            for _ in range(2):
                cluster.add_node(num_cpus=1, resources={SLOT: math.ceil(count / 2)})
            options = ["--cluster", cluster.address, "--avatar", args.avatar, "--backend",
                       args.backend, "--pose-backend", args.pose_backend,
                       "--max-sessions", "1", "--stage-nice", str(args.stage_nice)]
            with serving(options, env=env) as server:
                log.info("front door (pid %d) of a local cluster at %s", server.proc.pid,
                         server.url)
                yield server.url
        finally:
            cluster.shutdown()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _server(args: argparse.Namespace, count: int) -> Iterator[str]:
    """The URL to measure: `--server-url`, or a `dancenow serve` started for this level."""
    if args.server_url:
        yield args.server_url if args.server_url.endswith("/") else args.server_url + "/"
        return
    options = ["--avatar", args.avatar, "--backend", args.backend, "--pose-backend",
               args.pose_backend, "--max-sessions", str(count),
               "--stage-nice", str(args.stage_nice)]
    if args.compute_permits is not None:
        options += ["--compute-permits", str(args.compute_permits)]
    with serving(options) as server:
        log.info("dancenow serve (pid %d) at %s", server.proc.pid, server.url)
        yield server.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--avatar", default=str(DEMO_LIVE_AVATAR),
                        help="avatar bundle (default: avatars/demo-live, which `dancenow serve` "
                             "offers first); also the reference's")
    parser.add_argument("--backend", default="ort-cpu", help="runner of the avatar")
    parser.add_argument("--pose-backend", default="ort-cpu", help="pose estimator")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="concurrent session counts to try")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per level")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds after every session connected, before measuring")
    parser.add_argument("--size", type=int, default=480, help="camera frame size")
    parser.add_argument("--stage-nice", type=int, default=0, choices=range(MAX_NICE + 1),
                        metavar="N",
                        help="nice increment of the pipelines' compute threads (as `dancenow "
                             "serve --stage-nice`); results go to serve-niceN.*")
    parser.add_argument("--compute-permits", type=int, default=None, metavar="N",
                        help="as `dancenow serve --compute-permits` (0: heavy steps never "
                             "wait for a turn, as before the gate); results of 0 go to "
                             "serve-ungated.*")
    parser.add_argument("--server-url", metavar="URL",
                        help="measure this running server (http://host:port/) instead of "
                             "starting one; --avatar, --backend, --pose-backend and "
                             "--stage-nice then only describe it")
    parser.add_argument("--cluster", action="store_true",
                        help="measure each level twice, in turns: against one `dancenow "
                             "serve` and against the front door of a local two-node Ray "
                             "cluster on this machine; results go to serve-cluster.*")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    if min(args.sessions) < 1:
        parser.error("--sessions must be 1 or more")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.cluster and args.server_url:
        parser.error("--cluster starts its own servers: leave out --server-url")
    levels, clustered = [], []
    ways = [("one process", _server)] + ([("cluster", _cluster_server)] if args.cluster
                                         else [])
    for count in args.sessions:
        for way, start in ways:
            reference = reference_ms(args.avatar)
            with start(args, count) as url:
                level = asyncio.run(run_level(url, count, args.seconds, args.warmup,
                                              args.size))
            log.info("%s, %d session(s): %s fps, fairness %s, round trip p95 %s ms, "
                     "answer %s ms", way, count,
                     ", ".join(f"{v:.1f}" for v in level["received_fps"]) or "none",
                     _fmt(level["fairness"], 2), _fmt(level["round_trip_p95_ms"]),
                     _fmt(level["answer_ms_p50"]))
            level = {**level, "way": way, "reference_ms": round(reference, 1)}
            (clustered if way == "cluster" else levels).append(level)
    report = {"command": command_line("benchmarks.serve", argv), "machine": machine(),
              "server_url": args.server_url, "avatar": load_bundle(args.avatar).name,
              "backend": args.backend, "pose_backend": args.pose_backend,
              "seconds": args.seconds, "warmup": args.warmup, "frame_size": args.size,
              "stage_nice": args.stage_nice, "compute_permits": args.compute_permits,
              "levels": levels}
    if args.cluster:
        report["cluster_levels"] = clustered
        report["cluster_added"] = [cluster_added(a, b)
                                   for a, b in zip(levels, clustered, strict=True)]
    stem = f"serve-nice{args.stage_nice}" if args.stage_nice else "serve"
    if args.compute_permits == 0:
        stem += "-ungated"
    if args.cluster:
        stem += "-cluster"
    write_results(args.out, stem, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
