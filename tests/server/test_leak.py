"""Sessions leave nothing behind: 30 sessions of the real `dancenow serve`, ended in every
way a client ends one (stop, close, client process killed, never connected), leave the
server's threads and descriptors where they were and `/stats` empty."""

from __future__ import annotations

import asyncio

from benchmarks.reliability import leak, serving
from benchmarks.session_client import WAYS
from server.app import io_workers

SESSIONS = 30
CONCURRENCY = 3
CONNECT_TIMEOUT_S = 3.0
MEDIA_TIMEOUT_S = 2.0
DISCONNECT_GRACE_S = 3.0


def test_thirty_sessions_ended_every_way_leave_no_thread_or_descriptor(pose_models) -> None:
    options = ["--max-sessions", str(CONCURRENCY), "--connect-timeout", str(CONNECT_TIMEOUT_S),
               "--media-timeout", str(MEDIA_TIMEOUT_S)]
    with serving(options, env={"DANCENOW_POSE_MODELS": str(pose_models)}) as server:
        report = asyncio.run(leak(server, SESSIONS, CONCURRENCY, free_timeout=30.0))
    before, after = report["before"], report["after"]
    assert after["sessions"] == 0, report["after"]
    assert after["threads"] == before["threads"], (before, after)
    assert after["fds"] == before["fds"], (before, after)
    # the pool for blocking work keeps the threads it started, within its bound
    assert after["io_pool_threads"] <= io_workers(CONCURRENCY), after
    runs = report["runs"]
    assert len(runs) == SESSIONS
    assert {r["way"] for r in runs} == set(WAYS)
    assert all(r["frames"] >= 5 for r in runs if r["way"] != "never"), runs
    held = report["slot_held_s"]
    # a never-connecting client holds its slot for the connect timeout, not longer
    assert CONNECT_TIMEOUT_S - 0.5 <= held["never"]["max"] <= CONNECT_TIMEOUT_S + 2.0, held
    assert held["kill"]["max"] <= MEDIA_TIMEOUT_S + DISCONNECT_GRACE_S + 2.0, held
    assert held["stop"]["max"] <= 2.0 and held["close"]["max"] <= 2.0, held
