"""Load: 1, 2, 4, 8 concurrent WebRTC sessions against the server on loopback.

Each session is an aiortc client (`server.loopback`) sending a synthetic performer at
up to 30 fps (as many as its session asks for) and receiving the avatar; once every
session of a level is connected and `--warmup` seconds have passed, for `--seconds`:
each session's frames received per second and round trip from capture to arrival (read
from the frame code), and the server's own statistics. The clients run in the server's
process, on the same CPUs. Bounded in time: warm-up plus `--seconds` per level.
Results: `results/serve.json` and `results/serve.md`.

    python -m benchmarks.serve [--sessions 1 2 4 8] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path

import numpy as np
from aiohttp.test_utils import TestClient, TestServer

from benchmarks.machine import machine, reference_ms
from benchmarks.report import command_line, write_results
from engine.avatar import DEMO_LIVE_AVATAR, load_bundle
from engine.pipeline import PipelineConfig
from engine.pipeline.affinity import MAX_NICE
from server.app import MANAGER, ServeConfig, create_app
from server.loopback import LoopbackClient, performer_frames
from server.session import SessionOptions

log = logging.getLogger("benchmarks.serve")
RESULTS = Path(__file__).resolve().parent / "results"


async def run_level(app_factory, count: int, seconds: float, frames: list,  # noqa: ANN001
                    warmup: float = 3.0) -> dict:
    app = app_factory(count)
    async with TestClient(TestServer(app)) as http:
        clients = [LoopbackClient(frames) for _ in range(count)]
        ids, secrets = [], []
        for c in clients:
            res = await http.post("/offer", json=await c.offer())
            if res.status != 200:
                raise RuntimeError(f"offer refused: {res.status} {await res.text()}")
            answer = await res.json()
            ids.append(answer["session"])
            secrets.append(answer["secret"])
            await c.answer(answer)
        await asyncio.sleep(warmup)
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        server = []  # each session's statistics, read with its secret
        for secret in secrets:
            res = await http.get("/stats", headers={"X-Session-Secret": secret})
            server.extend((await res.json())["sessions"])
        for c in clients:
            await c.close()
        for _ in range(100):
            if not app[MANAGER].sessions:
                break
            await asyncio.sleep(0.1)
    rows = []
    by_id = {s["id"]: s for s in server}
    for i, (c, sid) in enumerate(zip(clients, ids, strict=True)):
        rt = np.array(c.round_trips_since(start)) * 1e3
        own = by_id.get(sid) or {}
        rows.append({"session": i + 1, "received_fps": c.received_fps(start=start),
                     "round_trip_p50_ms": float(np.percentile(rt, 50)) if rt.size else None,
                     "round_trip_p95_ms": float(np.percentile(rt, 95)) if rt.size else None,
                     "frames": len(c.received),
                     "server_latency_p50_ms": (own.get("latency") or {}).get("p50_ms"),
                     "send_fps_asked": own.get("send_fps_asked")})
    return {"sessions": count, "clients": rows, "server": server}


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Concurrent sessions on loopback", "", f"Command: `{report['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores. Avatar `{report['avatar']}` on "
             f"`{report['backend']}`, pose on `{report['pose_backend']}`; each session an "
             f"aiortc client in the same process sending a {report['frame_size']} px "
             "synthetic performer at up to 30 fps (the rate its session asks for); measured "
             f"for {report['seconds']:.0f} s after a {report['warmup']:.0f} s warm-up"
             + (f"; the pipelines' compute threads at nice +{report['stage_nice']}"
                if report.get("stage_nice") else "") + ". Round "
             "trip: capture in the client to arrival back in it, from the frame code, so it "
             "includes the clients' own coding on the shared CPUs; server latency: the "
             "session's pipeline, from its decoded frame to its avatar frame. Reference: the "
             "avatar's generator alone on one thread just before the level (the machine's "
             "speed then).", "",
             "| sessions | session | received fps | round trip p50 ms | p95 ms | "
             "server latency p50 ms | fps asked | reference ms |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v: "—" if v is None else f"{v:.0f}"  # noqa: E731
    for level in report["levels"]:
        ref = "—" if level.get("reference_ms") is None else f"{level['reference_ms']:.1f}"
        for row in level["clients"]:
            lines.append(f"| {level['sessions']} | {row['session']} | "
                         f"{row['received_fps']:.1f} | {fmt(row['round_trip_p50_ms'])} | "
                         f"{fmt(row['round_trip_p95_ms'])} | "
                         f"{fmt(row['server_latency_p50_ms'])} | "
                         f"{fmt(row['send_fps_asked'])} | {ref} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--avatar", default=str(DEMO_LIVE_AVATAR),
                        help="avatar bundle (default: avatars/demo-live, which `dancenow serve` "
                             "offers first)")
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
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    bundle = load_bundle(args.avatar, verify=True)
    from export.blazepose import ensure_pose_models

    ensure_pose_models(args.pose_backend)
    pipeline = PipelineConfig(backend=args.backend, pose_backend=args.pose_backend,
                              pose_threads=1, stage_nice=args.stage_nice)

    def app_factory(count: int):  # noqa: ANN202
        return create_app(ServeConfig(avatars={bundle.name: bundle}, max_sessions=count,
                                      session=SessionOptions(pipeline=pipeline)))

    frames = [f for f, _ in performer_frames(seconds=4, size=args.size, fps=30)]
    levels = []
    for count in args.sessions:
        reference = reference_ms(args.avatar)
        level = asyncio.run(run_level(app_factory, count, args.seconds, frames, args.warmup))
        log.info("%d session(s): %s fps", count,
                 ", ".join(f"{r['received_fps']:.1f}" for r in level["clients"]))
        levels.append({**level, "reference_ms": reference})
    report = {"command": command_line("benchmarks.serve", argv), "machine": machine(),
              "avatar": bundle.name,
              "backend": args.backend, "pose_backend": args.pose_backend,
              "seconds": args.seconds, "warmup": args.warmup, "frame_size": args.size,
              "stage_nice": args.stage_nice, "levels": levels}
    stem = f"serve-nice{args.stage_nice}" if args.stage_nice else "serve"
    write_results(args.out, stem, report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
