"""The live pipeline with fake sources, sinks and a scripted pose estimator."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import numpy as np
import pytest

from engine.avatar import load_bundle
from engine.errors import InputError
from engine.keypoints import missing_pose
from engine.pipeline import LiveFrame, LivePipeline, PipelineConfig
from engine.pipeline.affinity import available_cpus
from engine.pipeline.sources import FramesSource
from engine.pose.base import PoseEstimator
from synth.clip import ClipSpec, synthesize


class ScriptedPose(PoseEstimator):
    """Returns the clip's ground truth, or nobody for frames in `absent` (by frame mean)."""

    def __init__(self, poses: list[np.ndarray], absent: set[int] = frozenset()) -> None:
        super().__init__(video=True)
        self.poses, self.absent = poses, absent
        self.closed = False

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        frame = self.check_frame(frame)
        i = int(frame[0, 0, 0])  # the source writes the frame number into pixel (0, 0)
        return missing_pose() if i in self.absent else self.poses[i % len(self.poses)]

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def clip():  # noqa: ANN201
    frames, poses = [], []
    for i, (frame, kp) in enumerate(synthesize(ClipSpec(actor="performer", motion="dance",
                                                        seconds=2, size=128, fps=30, seed=1))):
        frame = frame.copy()
        frame[0, 0, 0] = i
        frames.append(frame)
        poses.append(kp)
    return frames, poses


class Collect:
    def __init__(self, delay: float = 0.0) -> None:
        self.frames: list[LiveFrame] = []
        self.delay = delay

    async def __call__(self, frame: LiveFrame) -> None:
        self.frames.append(frame)
        if self.delay:
            await asyncio.sleep(self.delay)


def _pipeline(bundles, poses, absent=frozenset(), **cfg) -> LivePipeline:  # noqa: ANN001
    bundle = load_bundle(bundles["fp32"])
    return LivePipeline(bundle, PipelineConfig(**cfg), estimator=ScriptedPose(poses, absent))


def test_a_paced_source_flows_through_every_stage(tiny_bundles, clip) -> None:
    frames, poses = clip
    sink = Collect()
    with _pipeline(tiny_bundles, poses) as pipe:
        stats = asyncio.run(pipe.run(FramesSource(frames[:30], fps=30), sink))
    assert stats["frames_in"] == 30 and stats["errors"] == 0
    assert stats["frames_out"] + stats["dropped"] == 30 and stats["frames_out"] >= 20
    indices = [f.index for f in sink.frames]
    assert indices == sorted(indices)
    for f in sink.frames:
        assert f.output.shape == (64, 64, 3) and f.output.dtype == np.uint8
        assert (f.captured < f.stamps["pose"] <= f.stamps["label"] <= f.stamps["render"]
                <= f.stamps["finish"])
        assert f.rendered is None  # the float frame is let go once finished
    assert stats["latency"]["p50_ms"] > 0
    assert set(stats["stages"]) == {"pose", "label", "render", "finish"}


class WhereScriptedPose(ScriptedPose):
    """`ScriptedPose` noting the CPUs its calling thread may run on."""

    def __init__(self, poses: list[np.ndarray]) -> None:
        super().__init__(poses)
        self.cpus_seen: set[frozenset[int]] = set()
        self.nice_seen: set[int] = set()

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        self.cpus_seen.add(frozenset(os.sched_getaffinity(0)))
        self.nice_seen.add(os.getpriority(os.PRIO_PROCESS, 0))
        return super().estimate(frame)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(available_cpus()) < 2,
                    reason="pinning needs affinity calls and two CPUs")
def test_the_pose_stage_runs_on_the_cpu_planned_for_it(tiny_bundles, clip) -> None:
    frames, poses = clip
    estimator = WhereScriptedPose(poses)
    with LivePipeline(load_bundle(tiny_bundles["fp32"]), PipelineConfig(),
                      estimator=estimator) as pipe:
        assert pipe.cpus is not None and len(pipe.cpus["pose"]) == 1
        stats = asyncio.run(pipe.run(FramesSource(frames[:10], fps=30), Collect()))
    assert stats["frames_in"] == 10
    assert estimator.cpus_seen == {frozenset(pipe.cpus["pose"])}
    assert sorted(os.sched_getaffinity(0)) == available_cpus()  # the caller is left alone


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_stage_nice_lowers_the_stage_threads_priority_only(tiny_bundles, clip) -> None:
    frames, poses = clip
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    estimator = WhereScriptedPose(poses)
    with LivePipeline(load_bundle(tiny_bundles["fp32"]), PipelineConfig(stage_nice=4),
                      estimator=estimator) as pipe:
        stats = asyncio.run(pipe.run(FramesSource(frames[:10], fps=30), Collect()))
    assert stats["frames_out"] > 0
    assert estimator.nice_seen == {min(19, ours + 4)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == ours
    with pytest.raises(InputError, match="stage_nice"):
        LivePipeline(load_bundle(tiny_bundles["fp32"]), PipelineConfig(stage_nice=20),
                     estimator=ScriptedPose(poses))


def test_a_slow_consumer_drops_frames_and_keeps_latency_bounded(tiny_bundles, clip) -> None:
    frames, poses = clip
    sink = Collect(delay=0.15)
    with _pipeline(tiny_bundles, poses) as pipe:
        stats = asyncio.run(pipe.run(FramesSource(frames, fps=30), sink))
    assert stats["dropped"] >= 30  # 60 frames in 2 s, a sink taking 0.15 s each
    assert len(sink.frames) <= 20
    assert max(f.latency() for f in sink.frames) < 0.5  # no backlog builds up


def test_stop_ends_every_stage_without_leaking_tasks_or_threads(tiny_bundles, clip) -> None:
    frames, poses = clip
    endless = (frames[i % len(frames)] for i in range(10**9))
    sink = Collect()
    pipe = _pipeline(tiny_bundles, poses)

    async def main() -> dict:
        run = asyncio.create_task(pipe.run(FramesSource(endless, fps=30), sink))
        await asyncio.sleep(0.5)
        pipe.stop()
        stats = await asyncio.wait_for(run, 5)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        return stats

    stats = asyncio.run(main())
    pipe.close()
    assert stats["frames_out"] > 0 and pipe._estimator.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("dancenow-")]


def test_a_corrupt_frame_is_dropped_and_the_stream_goes_on(tiny_bundles, clip) -> None:
    frames, poses = clip
    bad = [*frames[:5], np.zeros((10, 10), np.float32), *frames[5:10]]
    sink = Collect()
    with _pipeline(tiny_bundles, poses) as pipe:
        stats = asyncio.run(pipe.run(FramesSource(bad, fps=20), sink))
    assert stats["errors"] == 1 and stats["frames_out"] + stats["dropped"] == 10


def test_reset_takes_effect_on_the_next_frame(tiny_bundles, clip) -> None:
    frames, poses = clip
    pipe = _pipeline(tiny_bundles, poses)
    seen = []

    async def sink(frame: LiveFrame) -> None:
        seen.append(len(pipe.steps["label"].normalizer._history))
        if frame.index == 20:
            pipe.reset()

    with pipe:
        asyncio.run(pipe.run(FramesSource(frames[:40], fps=30), sink))
    assert max(seen) > 15 and seen[-1] < max(seen)  # history restarted after the reset
