"""CPU plans for the live pipeline's stages."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from engine.pipeline.affinity import (
    MAX_NICE,
    CpuSetPool,
    available_cpus,
    cpu_plan,
    lower_thread_priority,
    pin_current_thread,
    session_cpu_sets,
)


def test_pose_gets_a_cpu_of_its_own_and_render_the_others() -> None:
    assert cpu_plan([0, 1], index=0) == {"pose": {0}, "label": {0}, "render": {1},
                                         "finish": {0}}
    assert cpu_plan([0, 1], index=1)["pose"] == {1}  # the next pipeline: the next CPU
    plan = cpu_plan([4, 2, 7], index=4)
    assert plan["pose"] == plan["finish"] == {4} and plan["render"] == {2, 7}
    assert cpu_plan([3], index=0) is None  # one CPU: nothing to separate


def test_render_may_share_the_pose_cpu() -> None:
    assert cpu_plan([0, 1], index=0, render="all") == {"pose": {0}, "label": {0},
                                                       "render": {0, 1}, "finish": {0}}
    with pytest.raises(ValueError, match="render CPUs"):
        cpu_plan([0, 1], render="some")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no affinity calls here")
def test_pinning_a_thread_leaves_the_others_alone() -> None:
    cpus = available_cpus()
    seen: dict[str, set[int]] = {}

    def worker() -> None:
        pin_current_thread({cpus[0]})
        seen["worker"] = os.sched_getaffinity(0)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["worker"] == {cpus[0]}
    assert sorted(os.sched_getaffinity(0)) == cpus


def _nice_in_thread(increment: int) -> tuple[int, int]:
    """(nice before, nice after) of a new thread that lowers its own priority."""
    seen: dict[str, int] = {}

    def work() -> None:
        seen["before"] = os.getpriority(os.PRIO_PROCESS, 0)
        lower_thread_priority(increment)
        seen["after"] = os.getpriority(os.PRIO_PROCESS, 0)

    t = threading.Thread(target=work)
    t.start()
    t.join()
    return seen["before"], seen["after"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_a_stage_thread_can_be_made_nicer_without_touching_the_others() -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    before, after = _nice_in_thread(3)
    assert before == ours and after == min(MAX_NICE, ours + 3)
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours
    assert _nice_in_thread(0) == (ours, ours)


@pytest.mark.parametrize("bad", [-1, MAX_NICE + 1])
def test_a_nice_increment_outside_0_to_19_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="nice increment"):
        lower_thread_priority(bad)


@pytest.mark.parametrize(("cpus", "slots"), [(16, 4), (16, 8), (64, 6), (96, 10), (4, 2),
                                              (17, 3)])
def test_each_session_slot_gets_cpus_of_its_own(cpus: int, slots: int) -> None:
    sets = session_cpu_sets(list(range(cpus)), slots)
    assert sets is not None and len(sets) == slots
    flat = [c for s in sets for c in s]
    assert sorted(flat) == list(range(cpus))  # every CPU dealt out, none twice
    sizes = [len(s) for s in sets]
    assert min(sizes) >= 2 and max(sizes) - min(sizes) <= 1  # as even as can be
    assert all(list(s) == list(range(s[0], s[0] + len(s))) for s in sets)  # contiguous


def test_too_few_cpus_for_a_set_each_means_sharing() -> None:
    assert session_cpu_sets([0, 1], 2) is None  # 2 sessions on 2 CPUs: they share
    assert session_cpu_sets(list(range(7)), 4) is None
    assert session_cpu_sets([5, 1, 3, 7], 2) == [(1, 3), (5, 7)]  # sorted, then dealt
    with pytest.raises(ValueError, match="at least one"):
        session_cpu_sets([0, 1], 0)


def test_a_session_plan_stays_inside_its_set() -> None:
    for own in session_cpu_sets(list(range(32)), 8):
        plan = cpu_plan(list(own))
        assert set().union(*plan.values()) <= set(own)
        assert plan["pose"].isdisjoint(plan["render"])


def test_the_pool_lends_each_set_once_and_takes_it_back() -> None:
    pool = CpuSetPool(session_cpu_sets(list(range(8)), 2))
    first, second = pool.lease("a"), pool.lease("b")
    assert first is not None and second is not None and set(first).isdisjoint(second)
    assert pool.lease("a") == first  # the same owner asking again
    assert pool.lease("c") is None  # none free: shares every CPU
    pool.release("a")
    assert pool.lease("c") == first
    assert pool.held() == {"b": list(second), "c": list(first)}
    pool.release("unknown")  # nothing to give back: no error
    assert CpuSetPool(None).lease("a") is None
