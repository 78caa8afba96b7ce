"""Which CPUs each stage of a live pipeline runs on.

The pose and render stages are both compute bound. The pose stage (with the cheap label
stage) is pinned to one CPU, where it is not migrated and keeps its cache; the render
stage, the heavier one, runs one thread per CPU on all of them, so it also uses the pose
CPU whenever pose is idle (with pacing, pose runs only once per rendered frame).
Successive pipelines in one process rotate the pose CPU, so several sessions spread
their pose work over the cores.
"""

from __future__ import annotations

import itertools
import os
import threading

_next_plan = itertools.count()
_lock = threading.Lock()


def available_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where affinity is unsupported)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_plan(cpus: list[int] | None = None, index: int | None = None
             ) -> dict[str, set[int]] | None:
    """CPU sets for the `pose`, `label` and `render` stages, or None where pinning is not
    possible or useful (fewer than 2 CPUs, or no affinity calls on this platform)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = available_cpus() if cpus is None else sorted(cpus)
    if len(cpus) < 2:
        return None
    if index is None:
        with _lock:
            index = next(_next_plan)
    pose = cpus[index % len(cpus)]
    return {"pose": {pose}, "label": {pose}, "render": set(cpus)}


def pin_current_thread(cpus: set[int]) -> None:
    """Restrict the calling thread (and the threads it starts later) to `cpus`."""
    os.sched_setaffinity(0, cpus)
