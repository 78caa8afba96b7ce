"""Just-in-time starts for pipeline stages.

With latest-frame-wins hand-offs, a fast stage in front of a slow one finishes its frame
early and the frame then waits for the slow stage: that wait is pure latency, and the
work on frames the slow stage never takes is wasted. `StagePacer` delays the start of a
stage until its frame would reach each later stage just as that stage becomes free
(from each stage's recent typical duration), so the stage picks a fresher frame, the
wait disappears, and the throughput, set by the slowest stage, is unchanged.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Sequence


class StagePacer:
    """Tracks when each stage of a chain is busy and how long its steps take."""

    def __init__(self, stages: Sequence[str], samples: int = 15, margin: float = 0.002,
                 slack: float = 0.1) -> None:
        """`samples`: recent durations whose median is a stage's typical time; a stage
        aims to arrive `margin` seconds plus `slack` of its own path's time early."""
        self.stages = list(stages)
        self.margin = margin
        self.slack = slack
        self._durations: dict[str, deque[float]] = {s: deque(maxlen=samples) for s in stages}
        self._busy_until: dict[str, float] = dict.fromkeys(stages, 0.0)

    def typical(self, stage: str) -> float:
        """The median of the stage's recent durations (0 before the first)."""
        d = self._durations[stage]
        return statistics.median(d) if d else 0.0

    def started(self, stage: str, now: float) -> None:
        self._busy_until[stage] = now + self.typical(stage)

    def finished(self, stage: str, seconds: float) -> None:
        self._durations[stage].append(seconds)
        self._busy_until[stage] = 0.0

    def delay(self, stage: str, now: float) -> float:
        """Seconds `stage` should wait before taking its next frame (0: start now)."""
        i = self.stages.index(stage)
        ahead = self.typical(stage)  # time from our start to the frame reaching stage k
        wait = 0.0
        for later in self.stages[i + 1:]:
            free_in = self._busy_until[later] - now
            wait = max(wait, free_in - ahead * (1.0 + self.slack) - self.margin)
            ahead += self.typical(later)
        return wait
