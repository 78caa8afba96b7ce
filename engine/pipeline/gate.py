"""A turn at the CPUs for the heavy stages of every pipeline in one event loop.

With more sessions than the CPUs can render, every stage thread of every session is
runnable at once and the operating system shares the CPUs among them all: each frame's
pose and render then take several times their own time, and every frame of every
session is late by that much. `ComputeGate` lets at most `permits` heavy steps (the pose
and generator models) compute at once, one per CPU; the others wait their turn in
arrival order. A step that runs, runs at full speed; a stage waiting for its turn keeps
its newest frame only (its input is a latest-wins slot), so waiting drops stale frames
instead of delaying fresh ones, and sessions take turns, which shares the frame rate
fairly. With one session on two or more CPUs nobody ever waits: its pose and render
each hold one permit at most.

`gate_for_loop` gives the pipelines of one event loop the same gate.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

_GATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ComputeGate] = (
    weakref.WeakKeyDictionary())


class ComputeGate:
    """At most `permits` holders at once; the rest are served first come, first served.
    Use from one event loop."""

    def __init__(self, permits: int) -> None:
        if permits < 1:
            raise ValueError(f"a compute gate needs at least one permit, got {permits}")
        self.permits = permits
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.waited = 0  # turns that had to wait

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        if self.busy < self.permits and not self.waiting:
            self.busy += 1
            return
        self.waited += 1
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn  # a releasing holder hands its permit over
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over as the wait was cancelled: pass it on
            else:
                self._waiters.remove(turn)
            raise

    def release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the permit goes to the next in line
                return
        if self.busy <= 0:
            raise RuntimeError("release without a permit held")
        self.busy -= 1

    async def __aenter__(self) -> ComputeGate:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


def gate_for_loop(permits: int) -> ComputeGate:
    """The running event loop's gate (made with `permits` by its first caller)."""
    loop = asyncio.get_running_loop()
    gate = _GATES.get(loop)
    if gate is None:
        gate = _GATES[loop] = ComputeGate(permits)
    return gate
