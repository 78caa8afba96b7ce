"""The avatar job's progress display: the remaining time of the phase and of the job."""

from __future__ import annotations

import pytest

from train.job.progress import JobProgress


def test_a_replan_during_a_stage_keeps_it_current_at_its_new_length() -> None:
    progress = JobProgress([("global", 1000.0, 100), ("face", 200.0, 20),
                            ("export", 10.0, 0)], bar=False)
    progress.start("global", steps=100)
    progress.update(50, {"l1": 0.1})
    before = progress._job_left()
    # The stage's deadline lengthens it to 120 steps; the plan is rebuilt from the phases
    # still to run, the current one among them.
    progress.replan([("global", 1200.0, 120), ("face", 200.0, 20), ("export", 10.0, 0)])
    assert progress.name == "global" and progress.steps == 120
    assert progress.index == 0
    later = progress._job_left() - progress._phase_left()
    assert later == pytest.approx(210.0)  # face and export, not global once more
    assert progress._job_left() > before  # 70 steps left at the pace seen, not 50
    assert "step 50/120" in progress.line()


def test_a_replan_after_a_stage_starts_the_next_phases_afresh() -> None:
    progress = JobProgress([("global", 1000.0, 100), ("face", 200.0, 20)], bar=False)
    progress.start("global", steps=100)
    progress.update(100, {})
    progress.end()
    progress.replan([("face", 180.0, 20)])
    assert progress.index == -1
    progress.start("face", steps=20)
    assert progress.index == 0 and progress._job_left() == pytest.approx(180.0, abs=1.0)
