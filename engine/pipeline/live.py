"""`LivePipeline`: the stages of `steps.py` run concurrently, with statistics and controls.

    source --slot--> pose --slot--> label --slot--> render --slot--> finish --slot--> sink

* A source is anything with `async recv() -> np.ndarray | LiveFrame | None` (None: the
  end); it paces itself (a camera, or a file offered at its frame rate).
* A sink is an async callable taking each finished `LiveFrame`.
* Every stage runs its step in its own single-thread executor (which owns the step's
  models, opened in that thread); the event loop only moves frames. On a machine with
  two or more CPUs the render thread is pinned to its own CPUs and the others (pose,
  label, finish: the face residual) share one (`affinity.py`).
  Hand-offs are `LatestSlot`s: when a stage is busy, a newer frame replaces the waiting
  one, so latency stays bounded and frames are dropped instead.
* A frame that a step rejects as bad input (e.g. a corrupt or wrongly shaped image) is
  dropped and counted; the stream goes on.
* On a GPU backend the render and finish stages' models are shared by every session of
  the process on that GPU and batched across them (`sharing.py`); on CPU backends each
  pipeline has its own.
* Stages start just in time (`pacing.StagePacer`): a stage in front of a slower one
  waits until its frame would reach that stage as it becomes free, then takes the
  newest frame, so frames do not wait between stages and no work is thrown away.
* The heavy stages (pose, render) of all pipelines in one event loop take turns at the
  CPUs (`gate.ComputeGate`, one turn per CPU at once): with more sessions than the CPUs
  can render, each frame still computes at full speed and sessions share the frame rate
  fairly, instead of every frame of every session slowing down together.
* The label stage predicts the pose ahead by the session's end-to-end delay
  (`PipelineConfig.predict`, `engine.predict`): the client's own figure when it gives one
  (`client_delay`), else the pipeline's latency plus `network_ms`.
* Controls do not queue behind frames: `reset()` (alias `calibrate()`) takes effect on
  the next frame the label stage starts; `set_predict()` likewise; `stop()` ends the
  source, and every stage then finishes its frame and exits. `close()` releases models and threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.avatar import AvatarBundle
from engine.errors import InputError
from engine.pipeline.affinity import (
    MAX_NICE,
    available_cpus,
    cpu_plan,
    lower_thread_priority,
    pin_current_thread,
)
from engine.pipeline.frame import LiveFrame
from engine.pipeline.gate import gate_for_loop
from engine.pipeline.pacing import StagePacer
from engine.pipeline.sharing import batching_stats, open_renderer
from engine.pipeline.slot import LatestSlot
from engine.pipeline.steps import FinishStep, LabelStep, PoseStep, RenderStep
from engine.pose import create_estimator
from engine.pose.base import PoseEstimator
from engine.predict.delay import DEFAULT_NETWORK_MS, DelayEstimate
from engine.predict.setting import DEFAULT_METHOD, parse_predict
from engine.renderer import AvatarRenderer
from engine.runners.base import resolve_backend
from engine.threadnames import named_executor
from engine.timing import summarize_ms

log = logging.getLogger(__name__)

STAGES = ("pose", "label", "render", "finish")
GATED_STAGES = ("pose", "render")  # the heavy ones, that take turns at the CPUs (gate.py)


class FrameSource(Protocol):
    async def recv(self) -> np.ndarray | LiveFrame | None: ...


Sink = Callable[[LiveFrame], Awaitable[None]]


@dataclass(frozen=True)
class PipelineConfig:
    backend: str = "ort-cpu"  # runner of the generator and face models
    pose_backend: str = "mediapipe"  # mediapipe, or a Runner backend for converted BlazePose
    pose_models: str | None = None  # folder of the converted BlazePose models
    render_threads: int | None = None  # generator threads (None: its CPUs, or all cores)
    pose_threads: int | None = None  # ONNX pose model threads (None: 1 when pinned, else all)
    pin_threads: bool = True  # pose and render stages on their own CPUs (see affinity.py)
    render_cpus: str = "others"  # others: the CPUs pose leaves free; all: every CPU
    cpus: tuple[int, ...] | None = None  # the CPUs the stages may use (None: the process's)
    # heavy steps (pose, render) of all pipelines in the event loop computing at once
    # (None: one per CPU of the process; 0: no limit); see gate.py
    compute_permits: int | None = None
    spinning: bool = False  # let ONNX Runtime's idle threads spin (off: stages share cores)
    stage_nice: int = 0  # nice increment of the stage threads (see affinity.py), 0 to 19
    pacing: bool = True  # start stages just in time for the slower stages after them
    hold_seconds: float = 0.5  # keep the last pose this long when nobody is seen
    ease_seconds: float = 1.0  # then ease to a neutral standing pose over this long
    calibration_frames: int = 30  # frames before the online normalization settles
    # predict the pose ahead by the session's delay: auto, off or milliseconds (see
    # engine.predict.setting); network_ms: what a client without its own figure adds to
    # the server's latency (engine.predict.delay)
    predict: str = "off"
    predict_method: str = DEFAULT_METHOD  # engine.predict.predictor.METHODS
    network_ms: float = DEFAULT_NETWORK_MS
    window_seconds: float = 5.0  # rolling window of the fps statistics
    keep: int = 600  # samples kept for the latency percentiles


class PipelineStats:
    """Rolling counters and timings; `snapshot()` is safe to call at any time."""

    def __init__(self, window_seconds: float, keep: int) -> None:
        self.window = window_seconds
        self.started = time.perf_counter()
        self.frames_in = self.frames_out = self.errors = 0
        self._in: deque[float] = deque()
        self._out: deque[float] = deque()
        self._latency: deque[float] = deque(maxlen=keep)
        self._recent: deque[tuple[float, float]] = deque()  # (when, latency) in the window
        self._stages: dict[str, deque[float]] = {s: deque(maxlen=keep) for s in STAGES}
        self._turns: deque[float] = deque(maxlen=keep)  # waits for the compute gate
        self.turns = 0  # turns taken so far, and the seconds they waited in all
        self.turn_seconds = 0.0
        self.mode = "none"  # the tracking mode of the newest frame out (LiveFrame.mode)

    def _trim(self, times: deque[float], now: float) -> None:
        while times and times[0] < now - self.window:
            times.popleft()

    def frame_in(self) -> None:
        now = time.perf_counter()
        self.frames_in += 1
        self._in.append(now)
        self._trim(self._in, now)

    def frame_out(self, frame: LiveFrame) -> None:
        now = time.perf_counter()
        self.frames_out += 1
        self._out.append(now)
        self._trim(self._out, now)
        self._latency.append(now - frame.captured)
        self._recent.append((now, now - frame.captured))
        while self._recent and self._recent[0][0] < now - self.window:
            self._recent.popleft()
        self.mode = frame.mode

    def stage(self, name: str, seconds: float) -> None:
        self._stages[name].append(seconds)

    def turn(self, seconds: float) -> None:
        """A heavy stage waited `seconds` for its turn at the CPUs."""
        self._turns.append(seconds)
        self.turns += 1
        self.turn_seconds += seconds

    def _rate(self, times: deque[float], now: float) -> float:
        self._trim(times, now)
        span = min(self.window, now - self.started)
        return len(times) / span if span > 0 else 0.0

    def snapshot(self, dropped: int = 0) -> dict:
        now = time.perf_counter()
        def pct(samples: deque[float]) -> dict[str, float] | None:
            if not samples:
                return None
            s = summarize_ms(samples)
            return {"p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"]}

        return {
            "fps_in": self._rate(self._in, now), "fps_out": self._rate(self._out, now),
            "frames_in": self.frames_in, "frames_out": self.frames_out, "dropped": dropped,
            "errors": self.errors, "latency": pct(self._latency), "mode": self.mode,
            "latency_recent": pct(deque(lat for when, lat in self._recent
                                        if when >= now - self.window)),
            "stages": {name: pct(v) for name, v in self._stages.items()},
            "turn_wait": pct(self._turns), "turns": self.turns,
            "turn_seconds": self.turn_seconds,
        }


def _make_estimator(config: PipelineConfig, threads: int | None) -> PoseEstimator:
    opts: dict[str, object] = {}
    if config.pose_backend != "mediapipe":
        opts["models_dir"] = config.pose_models
        opts.update(thread_options(config.pose_backend, threads, config.spinning))
    return create_estimator(config.pose_backend, video=True, **opts)


def thread_options(backend: str, threads: int | None, spinning: bool) -> dict[str, object]:
    """The thread options a CPU backend takes (ONNX Runtime: threads and spinning;
    OpenVINO: threads); none for the others."""
    backend = resolve_backend(backend)
    if backend.startswith("ort"):
        return {"threads": threads, "spinning": spinning}
    if backend == "ov-cpu":
        return {"threads": threads}
    return {}


class LivePipeline:
    """The avatar of `bundle` following whoever the source shows (see the module doc)."""

    def __init__(self, bundle: AvatarBundle, config: PipelineConfig | None = None,
                 estimator: PoseEstimator | None = None) -> None:
        """`estimator` replaces the one `config.pose_backend` names (the pipeline closes it)."""
        self.bundle = bundle
        self.config = config = config or PipelineConfig()
        if not 0 <= config.stage_nice <= MAX_NICE:
            raise InputError(f"stage_nice is 0 to {MAX_NICE}, got {config.stage_nice}")
        predict = parse_predict(config.predict)
        if not config.network_ms >= 0:
            raise InputError(f"network_ms must be >= 0, got {config.network_ms!r}")
        self.delay = DelayEstimate(config.network_ms / 1e3)
        self._executors = {name: named_executor(f"dancenow-{name}", 1) for name in STAGES}
        # Models are opened in their stage's thread, after pinning it, so the runtime's
        # worker threads inherit the stage's CPUs.
        self.cpus = (cpu_plan(list(config.cpus) if config.cpus else None,
                              render=config.render_cpus) if config.pin_threads else None)
        self._estimator: PoseEstimator | None = estimator
        self._renderer: AvatarRenderer | None = None
        try:
            if self.cpus is not None:
                for name, executor in self._executors.items():
                    executor.submit(pin_current_thread, self.cpus[name]).result()
            if config.stage_nice:
                for executor in self._executors.values():
                    executor.submit(lower_thread_priority, config.stage_nice).result()
            pose_threads = config.pose_threads or (1 if self.cpus else None)
            if self._estimator is None:
                self._estimator = self._executors["pose"].submit(
                    _make_estimator, config, pose_threads).result()
            render_threads = config.render_threads or (
                len(self.cpus["render"]) if self.cpus else None)
            render_opts = thread_options(config.backend, render_threads, config.spinning)
            self._renderer = self._executors["render"].submit(
                lambda: open_renderer(bundle, config.backend, **render_opts).__enter__()
            ).result()
        except BaseException:
            self._release()
            raise
        self.steps = {"pose": PoseStep(self._estimator),
                      "label": LabelStep(bundle.normalization, bundle.resolution,
                                         config.hold_seconds, config.ease_seconds,
                                         config.calibration_frames, predict, self.delay,
                                         config.predict_method),
                      "render": RenderStep(self._renderer),
                      "finish": FinishStep(self._renderer)}
        self._slots: list[LatestSlot[LiveFrame]] = []
        self._source_task: asyncio.Task | None = None
        self.stats = PipelineStats(config.window_seconds, config.keep)
        self._closed = False

    # -- controls ------------------------------------------------------------------------
    def reset(self) -> None:
        """Restart the online normalization at the next frame (the performer moved or
        changed) and choose the performer again (the largest and most central person)."""
        self.steps["pose"].request_relock()
        self.steps["label"].request_reset()

    calibrate = reset

    def set_predict(self, value: object) -> None:
        """Predict by `value` (auto, off or milliseconds) from the next frame on;
        InputError for anything else."""
        self.steps["label"].set_predict(parse_predict(value))

    def client_delay(self, seconds: float) -> None:
        """The client's own end-to-end delay (e.g. its glass-to-glass p50), which
        `predict=auto` uses while it is fresh."""
        self.delay.measured(seconds, time.perf_counter())

    def stop(self) -> None:
        """End the source; stages finish their frame and exit."""
        if self._source_task is not None and not self._source_task.done():
            self._source_task.cancel()

    def snapshot(self) -> dict:
        snap = self.stats.snapshot(sum(s.dropped for s in self._slots))
        snap["predict"] = dict(self.steps["label"].prediction)
        if (batching := batching_stats(self._renderer)) is not None:
            snap["batching"] = batching
        return snap

    # -- running -------------------------------------------------------------------------
    async def run(self, source: FrameSource, sink: Sink) -> dict:
        """Run until the source ends or `stop()`; returns the final statistics."""
        if self._closed:
            raise RuntimeError("the pipeline is closed")
        self.stats = PipelineStats(self.config.window_seconds, self.config.keep)
        pacer = StagePacer(STAGES) if self.config.pacing else None
        permits = self.config.compute_permits
        if permits is None:  # the process's CPUs: the gate is every pipeline's in the loop
            permits = len(available_cpus())
        self._gate = gate_for_loop(permits) if permits else None
        self._slots = [LatestSlot() for _ in range(len(STAGES) + 1)]
        self._source_task = asyncio.create_task(self._pump(source, self._slots[0]))
        tasks = [asyncio.create_task(self._stage(name, self._slots[i], self._slots[i + 1],
                                                 pacer))
                 for i, name in enumerate(STAGES)]
        tasks.append(asyncio.create_task(self._drain(self._slots[-1], sink)))
        try:
            await asyncio.gather(self._source_task, *tasks)
        finally:
            for task in [self._source_task, *tasks]:
                if not task.done():
                    task.cancel()
            await asyncio.gather(self._source_task, *tasks, return_exceptions=True)
        return self.snapshot()

    async def _pump(self, source: FrameSource, slot: LatestSlot[LiveFrame]) -> None:
        index = 0
        try:
            while True:
                item = await source.recv()
                if item is None:
                    break
                frame = item if isinstance(item, LiveFrame) else LiveFrame(index, item)
                index = frame.index + 1
                self.stats.frame_in()
                slot.put(frame)
        except asyncio.CancelledError:
            log.debug("source stopped")
        finally:
            slot.close()

    async def _stage(self, name: str, inp: LatestSlot[LiveFrame],
                     out: LatestSlot[LiveFrame], pacer: StagePacer | None) -> None:
        step, executor = self.steps[name], self._executors[name]
        gate = self._gate if name in GATED_STAGES else None
        try:
            while True:
                if pacer is not None and (wait := pacer.delay(name, time.perf_counter())) > 0:
                    await asyncio.sleep(wait)
                if (frame := await inp.get()) is None:
                    break
                if gate is None:
                    frame = await self._step(name, step, executor, frame, pacer)
                else:
                    queued = time.perf_counter()
                    async with gate:
                        self.stats.turn(time.perf_counter() - queued)
                        # a newer frame that came while this stage waited goes instead
                        frame = await self._step(name, step, executor, inp.newer(frame),
                                                 pacer)
                if frame is not None:
                    out.put(frame)
        finally:
            out.close()

    async def _step(self, name: str, step: Callable[[LiveFrame], LiveFrame],
                    executor: Executor, frame: LiveFrame,
                    pacer: StagePacer | None) -> LiveFrame | None:
        """`step` on `frame` in the stage's thread, timed; None when the frame is dropped
        for bad input."""
        start = time.perf_counter()
        if pacer is not None:
            pacer.started(name, start)
        try:
            frame = await asyncio.get_running_loop().run_in_executor(executor, step, frame)
        except InputError as exc:
            self.stats.errors += 1
            log.warning("%s: frame %d dropped: %s", name, frame.index, exc)
            return None
        finally:
            elapsed = time.perf_counter() - start
            if pacer is not None:
                pacer.finished(name, elapsed)
        frame.stamp(name)
        self.stats.stage(name, elapsed)
        return frame

    async def _drain(self, inp: LatestSlot[LiveFrame], sink: Sink) -> None:
        while (frame := await inp.get()) is not None:
            self.stats.frame_out(frame)
            self.delay.server_latency(time.perf_counter() - frame.captured)
            await sink(frame)

    # -- teardown ------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()

    def _release(self) -> None:
        for executor in self._executors.values():
            executor.shutdown(wait=True)
        if self._renderer is not None:
            self._renderer.__exit__(None, None, None)
        if self._estimator is not None:
            self._estimator.close()

    def __enter__(self) -> LivePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
