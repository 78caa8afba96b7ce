"""CPU plans for the live pipeline's stages."""

from __future__ import annotations

import os
import threading

import pytest

from engine.pipeline.affinity import available_cpus, cpu_plan, pin_current_thread


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
