"""A session's life between real aiortc peers on loopback (server/session.py): clients
that never connect or whose video stops, controls in every state (stop and calibrate
while the pipeline loads), malformed and flooding control messages, and places taken
only by offers that can become live. The pipeline is a light stand-in with a thread of
its own, so that leaks show in the thread count."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription

import server.session as session_module
from benchmarks.session_client import without_candidates
from server.app import MANAGER, ServeConfig, create_app
from server.loopback import LoopbackClient, performer_frames
from server.session import (
    CONTROL_MAX_BYTES,
    Session,
    SessionClosed,
    SessionManager,
    SessionOptions,
)

AVATAR = "stand-in"


class _Bundle:
    """What the application reads of an avatar bundle."""

    name = AVATAR
    resolution = 64


class _Pipeline:
    """A LivePipeline stand-in: loads while `gate` is closed, holds a worker thread until
    closed, reads the source's frames and counts calibrations."""

    gate = threading.Event()
    made: list[_Pipeline] = []

    def __init__(self, bundle: object, config: object) -> None:
        """Wait for the gate (at most 10 s), then start the worker thread."""
        _Pipeline.gate.wait(10)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dancenow-standin")
        self._executor.submit(time.sleep, 0).result()
        self._source_task: asyncio.Task | None = None
        self.resets = 0
        self.closed = False
        self.frames_in = 0
        _Pipeline.made.append(self)

    def reset(self) -> None:
        """Count a calibration."""
        self.resets += 1

    def stop(self) -> None:
        """End the run."""
        if self._source_task is not None:
            self._source_task.cancel()

    def snapshot(self) -> dict:
        """Statistics as the session reads them."""
        return {"frames_out": 0, "dropped": 0, "mode": "none"}

    async def run(self, source: object, sink: object) -> dict:
        """Read the source until it ends or `stop()`."""
        self._source_task = asyncio.ensure_future(self._pump(source))
        await asyncio.gather(self._source_task, return_exceptions=True)
        return self.snapshot()

    async def _pump(self, source: object) -> None:
        for _ in range(1_000_000):
            if await source.recv() is None:
                return
            self.frames_in += 1

    def close(self) -> None:
        """Release the worker thread."""
        self.closed = True
        self._executor.shutdown(wait=True)


@pytest.fixture()
def standin(monkeypatch: pytest.MonkeyPatch) -> type[_Pipeline]:
    """The stand-in pipeline in place of LivePipeline, its gate open."""
    monkeypatch.setattr(session_module, "LivePipeline", _Pipeline)
    _Pipeline.gate.set()
    _Pipeline.made = []
    yield _Pipeline
    _Pipeline.gate.set()


@pytest.fixture(scope="module")
def frames() -> list:
    """The synthetic performer's frames, small."""
    return [f for f, _ in performer_frames(seconds=0.5, size=128)]


def _manager(max_sessions: int = 2, **options: float) -> SessionManager:
    return SessionManager({AVATAR: _Bundle()}, max_sessions, SessionOptions(**options))


async def _offer(client: LoopbackClient) -> RTCSessionDescription:
    body = await client.offer()
    return RTCSessionDescription(sdp=body["sdp"], type=body["type"])


async def _connected(until: Callable[..., Awaitable[bool]], manager: SessionManager,
                     client: LoopbackClient) -> Session:
    session = await manager.open(await _offer(client), AVATAR)
    answer = session.pc.localDescription
    await client.answer({"sdp": answer.sdp, "type": answer.type})
    assert await until(lambda: session.state == "connected", 10), session.state
    return session


def _no_leak(threads_before: int) -> None:
    assert not [t.name for t in threading.enumerate() if t.name.startswith("dancenow-")]
    assert threading.active_count() <= threads_before


def test_a_client_that_never_connects_is_closed_after_the_timeout(until, standin, frames) -> None:
    threads = threading.active_count()

    async def main() -> None:
        manager = _manager(connect_timeout=1.0)
        client = LoopbackClient(frames)
        offer = await _offer(client)
        sdp = without_candidates(offer.sdp)
        session = await manager.open(RTCSessionDescription(sdp=sdp, type="offer"), AVATAR)
        assert session.state == "connecting" and manager.full is False
        start = time.perf_counter()
        assert await until(lambda: not manager.sessions, 5), session.state
        assert time.perf_counter() - start < 3
        assert session.state == "closed" and standin.made[0].closed
        await client.close()

    asyncio.run(main())
    _no_leak(threads)


def test_a_client_whose_video_stops_is_closed_within_seconds(until, standin, frames) -> None:
    threads = threading.active_count()

    async def main() -> None:
        manager = _manager(connect_timeout=5.0, media_timeout=1.0)
        client = LoopbackClient(frames)
        session = await _connected(until, manager, client)
        assert await until(lambda: standin.made[0].frames_in > 3, 10)
        await asyncio.sleep(1.5)
        assert session.state == "connected"  # frames flow: it lives on
        client.camera.pacer.take = lambda now: False  # the camera stops, the link stays up
        start = time.perf_counter()
        assert await until(lambda: not manager.sessions, 5), session.state
        assert time.perf_counter() - start < 3.5
        assert standin.made[0].closed
        await client.close()

    asyncio.run(main())
    _no_leak(threads)


def test_a_disconnected_connection_ends_after_the_grace_unless_it_comes_back(until,
        standin) -> None:
    async def main() -> None:
        session = Session({AVATAR: _Bundle()}, AVATAR, SessionOptions(disconnect_grace=0.3))
        session._on_connection_state("connected")
        session._on_connection_state("disconnected")
        await asyncio.sleep(0.1)
        session._on_connection_state("connected")  # back in time: it lives on
        await asyncio.sleep(0.5)
        assert session.state == "connected"
        session._on_connection_state("disconnected")
        assert await until(lambda: session.closed.is_set(), 2)
        other = Session({AVATAR: _Bundle()}, AVATAR, SessionOptions())
        other._on_connection_state("failed")  # at once
        assert await until(lambda: other.closed.is_set(), 2)

    asyncio.run(main())


def test_stop_and_calibrate_while_the_pipeline_loads(until, standin, frames) -> None:
    threads = threading.active_count()

    async def main() -> None:
        manager = _manager()
        standin.gate.clear()
        client = LoopbackClient(frames)
        opening = asyncio.ensure_future(manager.open(await _offer(client), AVATAR))
        assert await until(lambda: len(manager.sessions) == 1, 5)
        session = next(iter(manager.sessions.values()))
        assert session.state == "loading"
        session.control("calibrate")  # no pipeline yet: a no-op
        session.control("stop")
        session.control("stop")  # again: nothing more
        session.control("calibrate")  # closing: a no-op
        standin.gate.set()
        with pytest.raises(SessionClosed):
            await opening
        assert not manager.sessions and session.state == "closed"
        assert standin.made[0].closed and standin.made[0].resets == 0
        session.control("calibrate")  # closed: still defined
        session.control("stop")
        await client.close()

        # A live session: calibrate reaches the pipeline; then stop ends it.
        second = LoopbackClient(frames)
        live = await _connected(until, manager, second)
        live.control("calibrate")
        assert standin.made[1].resets == 1
        live.control("stop")
        assert await until(lambda: not manager.sessions, 5)
        assert standin.made[1].closed
        await second.close()

    asyncio.run(main())
    _no_leak(threads)


def test_a_cancelled_offer_does_not_leak_its_loading_pipeline(until, standin, frames) -> None:
    threads = threading.active_count()

    async def main() -> None:
        manager = _manager()
        standin.gate.clear()
        client = LoopbackClient(frames)
        opening = asyncio.ensure_future(manager.open(await _offer(client), AVATAR))
        assert await until(lambda: len(manager.sessions) == 1, 5)
        opening.cancel()
        await asyncio.sleep(0.1)
        standin.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await opening
        assert await until(lambda: bool(standin.made) and standin.made[0].closed, 5)
        assert not manager.sessions
        await client.close()

    asyncio.run(main())
    _no_leak(threads)


def _send_raw_text(client: LoopbackClient, data: bytes) -> None:
    """Send `data` as a text message as is (a client that sends text that is not UTF-8)."""
    sctp = client.pc.sctp
    sctp._data_channel_queue.append((client.control, 51, data))
    asyncio.ensure_future(sctp._data_channel_flush())


def test_malformed_and_flooding_control_messages_leave_the_session_alive(until,
        standin, frames, caplog) -> None:
    threads = threading.active_count()

    async def main() -> None:
        manager = _manager(media_timeout=30.0)
        client = LoopbackClient(frames)
        session = await _connected(until, manager, client)
        assert await until(lambda: client.control.readyState == "open", 5)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="server.session"):
            client.control.send("[" * 5000 + "]" * 5000)  # too large
            client.control.send("[" * 1900 + "]" * 1900)  # deep, within the size
            client.control.send(b"\xff\xfe binary, not UTF-8")
            client.control.send("not json")
            client.control.send(json.dumps([1, 2]))
            _send_raw_text(client, b'{"overlay": \xff}')  # text that is not UTF-8
            big = "x" * 60_000
            for _ in range(40):
                client.control.send(big)
            for _ in range(120):  # a burst beyond the rate
                client.control.send(json.dumps({"overlay": False}))
            assert await until(lambda: session.guard.total_dropped >= 40 + 6 + 60, 10), \
                session.guard.total_dropped
            await asyncio.sleep(1.1)  # a new second: within the rate again
            client.control.send(json.dumps({"overlay": True}))
            assert await until(lambda: session.overlay, 5)
            client.control.send(json.dumps({"overlay": False}).encode())  # bytes: fine
            assert await until(lambda: not session.overlay, 5)
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]
        assert session.state == "connected" and session.pc.connectionState == "connected"
        assert session.id in manager.sessions
        assert CONTROL_MAX_BYTES == 4096
        await client.close()
        assert await until(lambda: not manager.sessions, 10)

    asyncio.run(main())
    _no_leak(threads)


def test_failed_offers_do_not_take_the_places_of_valid_ones(until, standin, frames) -> None:
    threads = threading.active_count()
    app = create_app(ServeConfig(avatars={AVATAR: _Bundle()}, max_sessions=2,
                                 session=SessionOptions(connect_timeout=2.0)))

    async def recvonly() -> dict:
        pc = RTCPeerConnection()
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await pc.close()
        return {"sdp": pc.localDescription.sdp, "type": "offer"}

    async def main() -> None:
        async with TestClient(TestServer(app)) as http:
            standin.gate.clear()  # every pipeline loads slowly
            asyncio.get_running_loop().call_later(1.0, standin.gate.set)
            bad = [await recvonly() for _ in range(6)]
            client = LoopbackClient(frames)
            good = await client.offer()
            responses = await asyncio.gather(*(http.post("/offer", json=b) for b in bad),
                                             http.post("/offer", json=good))
            statuses = [r.status for r in responses]
            assert statuses == [400] * 6 + [200], statuses
            manager = app[MANAGER]
            assert len(manager.sessions) == 1 and len(standin.made) == 1
            await client.answer(await responses[-1].json())
            await client.close()
            assert await until(lambda: not manager.sessions, 10)

    asyncio.run(main())
    _no_leak(threads)


def test_timeouts_must_be_positive() -> None:
    for name in ("connect_timeout", "disconnect_grace", "media_timeout"):
        with pytest.raises(ValueError, match=name):
            SessionOptions(**{name: 0})
