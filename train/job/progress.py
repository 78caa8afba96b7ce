"""One progress display for a whole avatar job.

On a terminal: one line (a tqdm bar over all the job's training steps) with the
current phase, its step and losses, and the elapsed and remaining time of the phase
and of the whole job; log lines print above it. Elsewhere (a log file, `-q`): a log
line at each phase's start and end and every `LOG_EVERY_S` seconds in between.

The trainer's steps and losses come from its training log (`train_log-STAGE.jsonl`),
which `TrainLogFollower` reads as it grows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from train.job.budget import format_duration

log = logging.getLogger(__name__)

LOG_EVERY_S = 30.0
BAR_WIDTH = 12  # characters of the bar over the job's training steps
LOSS_KEYS = ("d", "g_adv", "l1", "g_temporal", "face_l1")


class JobProgress:
    """The display. `phases` is the job's plan: (name, estimated seconds, steps or 0)
    for every phase still to run, in order."""

    def __init__(self, phases: list[tuple[str, float, int]], bar: bool,
                 spent: float = 0.0) -> None:
        self.phases = phases
        self.use_bar = bar
        self.spent = spent  # seconds of the job before this process
        self.started = time.monotonic()
        self.total_steps = sum(steps for _, _, steps in phases)
        self.steps_before = 0  # training steps of the phases already passed
        self.index = -1
        self.name = ""
        self.steps = 0
        self.step = 0
        self.first_step = 0
        self.losses: dict[str, float] = {}
        self.phase_started = self.started
        self.phase_estimate = 0.0
        self._logged = 0.0
        self._bar: tqdm | None = None
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def shown(self) -> Iterator[JobProgress]:
        """Show the display while the job runs (log lines go above the bar)."""
        if self.use_bar:
            self._bar = tqdm(total=max(self.total_steps, 1), unit="step", dynamic_ncols=True,
                             bar_format="{desc}", leave=False)
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True,
                                  name="dancenow-job-display")
        ticker.start()
        try:
            with logging_redirect_tqdm() if self.use_bar else contextlib.nullcontext():
                yield self
        finally:
            stop.set()
            ticker.join(timeout=2)
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(1.0):
            self._draw()

    def replan(self, phases: list[tuple[str, float, int]]) -> None:
        """The phases still to run, with the plan's estimates and steps. A phase under way
        that is among them stays the current one, at its new length (a stage its deadline
        lengthened or shortened); its time is not counted again among the later ones."""
        with self._lock:
            self.phases = phases
            names = [name for name, _, _ in phases]
            self.index = names.index(self.name) if self.name in names else -1
            if self.index >= 0 and self.steps:
                self.steps = phases[self.index][2]
            self.steps_before = 0
            self.total_steps = sum(steps for _, _, steps in phases)
            if self._bar is not None:
                self._bar.total = max(self.total_steps, 1)

    # -- phases -------------------------------------------------------------------------
    def start(self, name: str, steps: int = 0, at_step: int = 0) -> None:
        with self._lock:
            for i in range(self.index + 1, len(self.phases)):
                if self.phases[i][0] == name:
                    self.steps_before += sum(s for _, _, s in self.phases[self.index + 1:i])
                    self.index = i
                    break
            self.name, self.steps, self.step, self.first_step = name, steps, at_step, at_step
            self.losses = {}
            self.phase_started = time.monotonic()
            self.phase_estimate = self.phases[self.index][1] if self.index >= 0 else 0.0
        what = f" from step {at_step}" if at_step else ""
        log.info("%s: started%s; about %s (%s)", name, what,
                 format_duration(self._phase_left()), self._job_text())
        self._draw(force=True)

    def update(self, step: int, losses: dict[str, float]) -> None:
        with self._lock:
            self.step = step
            self.losses = {k: v for k, v in losses.items() if k in LOSS_KEYS}
        self._draw()

    def end(self) -> None:
        with self._lock:
            self.steps_before += self.steps
            self.steps = self.step = self.first_step = 0
            self.phase_estimate = 0.0
        log.info("%s: done in %s (%s)", self.name,
                 format_duration(time.monotonic() - self.phase_started), self._job_text())

    # -- times --------------------------------------------------------------------------
    def _phase_elapsed(self) -> float:
        return time.monotonic() - self.phase_started

    def _phase_left(self) -> float:
        done = self.step - self.first_step
        if self.steps and done > 0:
            rate = self._phase_elapsed() / done
            return rate * (self.steps - self.step)
        return max(0.0, self.phase_estimate - self._phase_elapsed())

    def _job_elapsed(self) -> float:
        return self.spent + time.monotonic() - self.started

    def _job_left(self) -> float:
        later = sum(est for _, est, _ in self.phases[self.index + 1:])
        return self._phase_left() + later

    def _job_text(self) -> str:
        return (f"job {format_duration(self._job_elapsed())} so far, about "
                f"{format_duration(self._job_left())} to go")

    def line(self) -> str:
        losses = " ".join(f"{k} {v:.3f}" for k, v in self.losses.items())
        step = f" step {self.step}/{self.steps}" if self.steps else ""
        return (f"{step}{' ' + losses if losses else ''} | {self.name} "
                f"{format_duration(self._phase_elapsed())}, "
                f"{format_duration(self._phase_left())} left | {self._job_text()}").strip()

    def _draw(self, force: bool = False) -> None:
        with self._lock:
            self._draw_locked(force)

    def _draw_locked(self, force: bool) -> None:
        if self._bar is not None:
            done = min(self.steps_before + max(self.step, 0), self._bar.total)
            filled = int(BAR_WIDTH * done / max(self._bar.total, 1))
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self._bar.n = done
            self._bar.set_description_str(
                f"{self.name} [{self.index + 1}/{len(self.phases)}] {bar} {self.line()}",
                refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if force:
            self._logged = now
        elif now - self._logged >= LOG_EVERY_S:
            self._logged = now
            log.info("%s:%s", self.name, self.line())


class TrainLogFollower:
    """Reads a training log as the trainer appends to it, in a thread of its own, and
    calls `on_line(step, record)` for each new line; `on_tick()` about every second."""

    def __init__(self, path: Path, on_line: Callable[[int, dict], None],
                 on_tick: Callable[[], None], interval: float = 0.5) -> None:
        self.path = path
        self.on_line = on_line
        self.on_tick = on_tick
        self.interval = interval
        self._offset = 0
        self._last_step = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dancenow-job-progress",
                                        daemon=True)

    def __enter__(self) -> TrainLogFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._read()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._read()
            self.on_tick()

    def _read(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self._offset:  # rewritten (a resumed stage drops lines past its step)
            self._offset = 0
        with open(self.path) as fh:
            fh.seek(self._offset)
            chunk = fh.read()
        complete = chunk[:chunk.rfind("\n") + 1]
        self._offset += len(complete.encode())
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            step = int(record.get("step", -1))
            if step > self._last_step:
                self._last_step = step
                self.on_line(step, record)
