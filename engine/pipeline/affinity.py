"""Which CPUs each stage of a live pipeline runs on.

The pose and render stages are both compute bound. The pose stage (with the cheap label
stage, and the finish stage: the face residual of the frame before) is pinned to one
CPU, where it is not migrated and keeps its cache. The render
stage, the heavier one, runs one thread per CPU either on the other CPUs (`others`: no
stage ever waits for a CPU the other holds, the steadiest latency when a frame's render
fits one CPU's frame time) or on all of them (`all`: render also borrows the pose CPU
while pose is idle, for a generator too slow for the CPUs left to it, at the price of
waiting for its thread there whenever pose runs). Successive pipelines in one process
rotate the pose CPU, so several sessions spread their pose work over the cores.

On a machine with CPUs enough for every session slot to have two or more of its own,
`session_cpu_sets` deals the CPUs out in disjoint blocks and a `CpuSetPool` lends one
block to each live session: its pose and render stages then run on those CPUs only, and
one busy session never slows another down. With fewer CPUs the sessions share all of
them, as above.

`lower_thread_priority` gives a stage thread a higher nice value than the rest of the
process. With more sessions than the CPUs can render, the compute threads then yield to
the event loop, which moves every session's packets and hands frames between stages, so
frames stop queueing behind the computation. Raising a nice value needs no privilege;
Linux keeps one per thread, other systems one per process, so elsewhere it is not done.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)
MAX_NICE = 19

_next_plan = itertools.count()
_lock = threading.Lock()


def available_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where affinity is unsupported)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


RENDER_CPUS = ("others", "all")


def cpu_plan(cpus: list[int] | None = None, index: int | None = None,
             render: str = "others") -> dict[str, set[int]] | None:
    """CPU sets for the `pose`, `label`, `render` and `finish` stages, or None where pinning is not
    possible or useful (fewer than 2 CPUs, or no affinity calls on this platform).

    `render` is `others` (the CPUs pose does not use) or `all` (see the module doc)."""
    if render not in RENDER_CPUS:
        raise ValueError(f"render CPUs {render!r}: use {' or '.join(RENDER_CPUS)}")
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = available_cpus() if cpus is None else sorted(cpus)
    if len(cpus) < 2:
        return None
    if index is None:
        with _lock:
            index = next(_next_plan)
    pose = cpus[index % len(cpus)]
    render_cpus = set(cpus) if render == "all" else set(cpus) - {pose}
    return {"pose": {pose}, "label": {pose}, "render": render_cpus, "finish": {pose}}


def session_cpu_sets(cpus: list[int], slots: int,
                     min_per_slot: int = 2) -> list[tuple[int, ...]] | None:
    """`slots` disjoint CPU sets dealt from `cpus` in contiguous blocks (neighbouring
    CPU numbers tend to share caches), as even as can be, or None where the CPUs are too
    few for each slot to get `min_per_slot` (its pose CPU and at least one to render)."""
    if slots < 1:
        raise ValueError(f"at least one session slot is needed, got {slots}")
    cpus = sorted(cpus)
    if len(cpus) < slots * min_per_slot:
        return None
    base, extra = divmod(len(cpus), slots)
    sets, start = [], 0
    for slot in range(slots):
        size = base + (1 if slot < extra else 0)
        sets.append(tuple(cpus[start:start + size]))
        start += size
    return sets


class CpuSetPool:
    """Lends each session one CPU set of its own (see `session_cpu_sets`) while it lives.

    With no sets (too few CPUs) or none free, a session gets None: it shares every CPU.
    Used from one thread (the server's event loop)."""

    def __init__(self, sets: list[tuple[int, ...]] | None) -> None:
        self.sets = list(sets or [])
        self._free = list(self.sets)
        self._held: dict[str, tuple[int, ...]] = {}

    def lease(self, owner: str) -> tuple[int, ...] | None:
        if owner in self._held:
            return self._held[owner]
        if not self._free:
            return None
        self._held[owner] = cpus = self._free.pop(0)
        return cpus

    def release(self, owner: str) -> None:
        cpus = self._held.pop(owner, None)
        if cpus is not None:
            self._free.append(cpus)
            self._free.sort()

    def held(self) -> dict[str, list[int]]:
        return {owner: list(cpus) for owner, cpus in self._held.items()}


def pin_current_thread(cpus: set[int]) -> None:
    """Restrict the calling thread (and the threads it starts later) to `cpus`."""
    os.sched_setaffinity(0, cpus)


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value by `nice` (0 to 19; threads it starts later
    inherit it). Only on Linux, where the nice value is per thread."""
    if not 0 <= nice <= MAX_NICE:
        raise ValueError(f"a nice increment is 0 to {MAX_NICE}, got {nice}")
    if not sys.platform.startswith("linux"):
        log.warning("thread priorities are per process on %s: stage priority left alone",
                    sys.platform)
        return
    current = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, min(MAX_NICE, current + nice))
