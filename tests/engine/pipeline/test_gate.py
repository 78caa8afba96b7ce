"""The compute gate: heavy steps of all pipelines in a loop take turns, first come first
served, and a stage that waited takes the newest frame."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from engine.avatar import load_bundle
from engine.pipeline import LivePipeline, PipelineConfig
from engine.pipeline.gate import ComputeGate, gate_for_loop
from engine.pipeline.slot import LatestSlot
from engine.pipeline.sources import FramesSource
from engine.pose.base import PoseEstimator


def test_at_most_permits_hold_it_and_turns_go_in_arrival_order() -> None:
    async def main() -> tuple[int, list[int], int]:
        gate = ComputeGate(2)
        holding, most, order = 0, 0, []

        async def work(i: int) -> None:
            nonlocal holding, most
            async with gate:
                order.append(i)
                holding += 1
                most = max(most, holding)
                await asyncio.sleep(0.01)
                holding -= 1

        tasks = []
        for i in range(8):
            tasks.append(asyncio.create_task(work(i)))
            await asyncio.sleep(0)  # each asks in turn
        await asyncio.gather(*tasks)
        return most, order, gate.busy

    most, order, busy = asyncio.run(main())
    assert most == 2 and order == list(range(8)) and busy == 0


def test_a_cancelled_wait_gives_nothing_away() -> None:
    async def main() -> int:
        gate = ComputeGate(1)
        await gate.acquire()
        waiting = asyncio.create_task(gate.acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        gate.release()
        await asyncio.wait_for(gate.acquire(), 1.0)  # free again: no permit was lost
        gate.release()
        return gate.busy

    assert asyncio.run(main()) == 0
    with pytest.raises(ValueError, match="at least one"):
        ComputeGate(0)


def test_releasing_a_permit_not_held_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="without a permit"):
        ComputeGate(1).release()


def test_one_gate_per_event_loop() -> None:
    async def two() -> tuple[ComputeGate, ComputeGate]:
        return gate_for_loop(3), gate_for_loop(5)

    first, again = asyncio.run(two())
    assert first is again and first.permits == 3  # made by its first caller
    other, _ = asyncio.run(two())
    assert other is not first


def test_a_stage_that_waited_takes_the_newest_frame() -> None:
    async def main() -> tuple[str, int]:
        slot: LatestSlot[str] = LatestSlot()
        slot.put("old")
        taken = await slot.get()
        assert slot.newer(taken) == "old"  # nothing newer: the same
        slot.put("new")
        return slot.newer(taken), slot.dropped

    assert asyncio.run(main()) == ("new", 1)


class SlowPose(PoseEstimator):
    """A pose model that takes 15 ms and notes how many ran at once, across pipelines."""

    lock = threading.Lock()
    running = 0
    most = 0

    def __init__(self, pose: np.ndarray) -> None:
        super().__init__(video=True)
        self.pose = pose

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.most = max(cls.most, cls.running)
        time.sleep(0.015)
        with cls.lock:
            cls.running -= 1
        return self.pose.copy()


@pytest.mark.parametrize("permits", [1, 0])
def test_pipelines_in_one_loop_take_turns_and_share_fairly(tiny_bundles, permits) -> None:
    from synth.clip import ClipSpec, synthesize

    clip = list(synthesize(ClipSpec(actor="performer", motion="dance", seconds=1, size=128,
                                    fps=30, seed=2)))
    frames = [f for f, _ in clip]
    bundle = load_bundle(tiny_bundles["fp32"])
    SlowPose.running = SlowPose.most = 0
    config = PipelineConfig(compute_permits=permits, pin_threads=False)

    async def main() -> list[dict]:
        pipes = [LivePipeline(bundle, config, estimator=SlowPose(clip[0][1])) for _ in range(3)]
        try:
            async def sink(frame) -> None:  # noqa: ANN001
                pass

            return await asyncio.gather(*(p.run(FramesSource(frames, fps=30), sink)
                                          for p in pipes))
        finally:
            for p in pipes:
                p.close()

    stats = asyncio.run(main())
    outs = [s["frames_out"] for s in stats]
    if permits == 1:
        assert SlowPose.most == 1  # never two pose models at once, whichever pipeline
        assert min(outs) >= 0.6 * (sum(outs) / len(outs)), outs  # turns shared fairly
        assert all(s["turn_wait"] is not None for s in stats)
    else:
        assert SlowPose.most >= 2  # without the gate they overlap
        assert all(s["turn_wait"] is None for s in stats)
