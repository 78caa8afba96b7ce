"""Just-in-time stage starts: a stage waits so its frame reaches a busy later stage as it
frees up, and starts at once when nothing after it is busy."""

from __future__ import annotations

import pytest

from engine.pipeline.pacing import StagePacer

STAGES = ("pose", "label", "render")


def _trained(pacer: StagePacer, durations: dict[str, float], times: int = 5) -> StagePacer:
    for _ in range(times):
        for stage, seconds in durations.items():
            pacer.finished(stage, seconds)
    return pacer


def test_no_history_or_idle_stages_mean_no_wait() -> None:
    pacer = StagePacer(STAGES)
    assert pacer.delay("pose", 100.0) == 0.0
    _trained(pacer, {"pose": 0.015, "label": 0.001, "render": 0.035})
    assert pacer.delay("pose", 100.0) == 0.0  # nothing after it is busy
    assert pacer.typical("render") == pytest.approx(0.035)


def test_a_stage_waits_for_the_busy_slower_stage_after_it() -> None:
    pacer = _trained(StagePacer(STAGES, margin=0.0, slack=0.0),
                     {"pose": 0.015, "label": 0.001, "render": 0.035})
    pacer.started("render", 100.0)  # render is busy until 100.035
    # pose (15 ms) then label (1 ms): starting at 100.019 reaches render at 100.035.
    assert pacer.delay("pose", 100.0) == pytest.approx(0.019)
    assert pacer.delay("pose", 100.030) == 0.0  # late already: start now
    assert pacer.delay("label", 100.0) == pytest.approx(0.034)
    assert pacer.delay("render", 100.0) == 0.0  # the last stage never waits
    pacer.finished("render", 0.035)
    assert pacer.delay("pose", 100.0) == 0.0


def test_margin_and_slack_start_a_little_early() -> None:
    exact = _trained(StagePacer(STAGES, margin=0.0, slack=0.0),
                     {"pose": 0.010, "label": 0.0, "render": 0.040})
    early = _trained(StagePacer(STAGES, margin=0.002, slack=0.1),
                     {"pose": 0.010, "label": 0.0, "render": 0.040})
    for pacer in (exact, early):
        pacer.started("render", 0.0)
    assert exact.delay("pose", 0.0) == pytest.approx(0.030)
    assert early.delay("pose", 0.0) == pytest.approx(0.030 - 0.001 - 0.002)
