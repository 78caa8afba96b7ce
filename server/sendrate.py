"""How many camera frames a second a session asks its client to send.

About as many as the server turns into avatar frames. A frame the server has to drop
cost the client's encoder and the server's decoder for nothing and waited in queues on
the way (latency); a server that never drops a frame may be waiting for frames. So once
a second the session compares what its pipeline put out with what it lost (dropped, or
skipped as stale): when more than `high` of the frames were lost the rate falls to the
output rate (plus a little), while fewer than `low` were lost it climbs by a tenth, and
in between it holds, unless the pipeline is mostly idle: frames bunched by the network
are lost at any rate (the stages keep the latest frame only), so a rate that fell at a
busy moment (a start) would hold there for good. While the heaviest step was busy less
than `idle` of the last second (its time per frame times the frames rendered), the rate
climbs as if nothing were lost. Lost means arrived but not rendered: dropped between stages,
skipped as stale, or piling up before the decoder (a backlog the pipeline never sees).
A backlog that is already there (say, from a start when the server was busiest) does
not grow, and would stay as latency: while more than `backlog_frames` frames wait
before the pipeline the rate is half the output rate, so that the queue drains.

Losses alone keep a session's pipeline busy, which is right while it has CPUs to itself.
When sessions share CPUs they take turns (`engine.pipeline.gate`), and a full house
shows as the time their steps wait for a turn: however fairly shared, every frame then
waits for the other sessions' steps, and latency grows with their number. A session
whose steps waited longer than `congested` of a step's own time over the last second is
`congested`: its rate falls by `backoff` (or to what it rendered), and climbs again only
once the waits are short. The sessions thus leave the CPUs a little slack, which is what
keeps each frame's wait short.
The client hears the rate on the session's control channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SendRate:
    max_fps: float = 30.0  # a camera's rate: where it starts, and the ceiling
    min_fps: float = 1.0  # under load a slow stream beats a stale one
    low: float = 0.05  # share of frames lost under which the rate climbs
    high: float = 0.15  # and over which it falls
    backlog_frames: int = 3  # frames waiting before the pipeline that call for draining
    backoff: float = 0.85  # the rate's factor when its steps waited too long for turns
    idle: float = 0.6  # share of a second the heaviest step works, under which it climbs
    fps: float = field(init=False)
    _last: tuple[int, int] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not 0 < self.min_fps <= self.max_fps:
            raise ValueError(f"need 0 < min_fps <= max_fps, got {self.min_fps}, {self.max_fps}")
        if self.backlog_frames < 1:
            raise ValueError(f"backlog_frames must be at least 1, got {self.backlog_frames}")
        if not 0 < self.backoff < 1:
            raise ValueError(f"backoff must be within (0, 1), got {self.backoff}")
        if not 0 <= self.low <= self.high <= 1:
            raise ValueError(f"need 0 <= low <= high <= 1, got {self.low}, {self.high}")
        if not 0 <= self.idle < 1:
            raise ValueError(f"idle must be within [0, 1), got {self.idle}")
        self.fps = self.max_fps

    def update(self, out: int, lost: int, seconds: float, backlog: int = 0,
               congested: bool = False, step_ms: float | None = None) -> float:
        """The rate after `seconds` in which the session's cumulative counters became
        `out` (frames rendered) and `lost` (frames that arrived and were not rendered);
        `backlog`: frames that arrived and wait before the pipeline now; `congested`: its
        steps waited long for their turns at the CPUs (`congested_turns`); `step_ms`: the
        heaviest step's time per frame (wall clock, so a step short of CPU takes longer),
        None if not known."""
        previous, self._last = self._last, (out, lost)
        if previous is None or seconds <= 0 or out < previous[0]:  # first, or started over
            return self.fps
        rendered = (out - previous[0]) / seconds
        missed = max(0, lost - previous[1]) / seconds  # in flight can shrink by a frame
        share = missed / (missed + rendered) if missed + rendered > 0 else 0.0
        if backlog > self.backlog_frames:
            self.fps = max(self.min_fps, min(self.fps - 1, rendered / 2))
        elif congested:
            self.fps = max(self.min_fps, min(self.fps * self.backoff, rendered))
        elif share > self.high:
            self.fps = max(self.min_fps, min(self.fps - 1, rendered * 1.05 + 1))
        elif share < self.low or (step_ms is not None
                                  and rendered * step_ms / 1000.0 < self.idle):
            self.fps = min(self.max_fps, self.fps + max(1.0, self.fps / 10))
        return self.fps


CONGESTED = 0.5  # a turn's wait, as a share of a step's own time, that means a full house


def congested_turns(turns: int, turn_seconds: float, step_ms: float | None,
                    share: float = CONGESTED) -> bool:
    """Whether `turns` turns at the CPUs that waited `turn_seconds` in all (over the
    last interval) waited more than `share` of a heavy step's own time, `step_ms`."""
    if turns <= 0 or not step_ms:
        return False
    return turn_seconds / turns * 1000.0 > share * step_ms


class FramePacer:
    """Which frames of a camera running at its own rate to send for `fps` a second:
    each frame earns credit for the time since the one before, one credit sends a frame
    (a little less will do, as frame intervals jitter around the camera's period)."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._credit = 1.0
        self._then: float | None = None

    def take(self, now: float) -> bool:
        """Whether the frame that came at `now` (seconds) is sent."""
        if self._then is not None:
            self._credit = min(2.0, self._credit + (now - self._then) * self.fps)
        self._then = now
        if self._credit < 0.9:
            return False
        self._credit -= 1.0
        return True
