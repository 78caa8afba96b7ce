"""CPU plans for the live pipeline's stages."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from engine.pipeline.affinity import (
    MAX_NICE,
    available_cpus,
    cpu_plan,
    lower_thread_priority,
    pin_current_thread,
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
