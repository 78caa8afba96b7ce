"""The frame rate a session asks for (server/sendrate.py) and the pacing of camera frames
to it, in Python (the loopback client) and in the page (server/static/pacer.js, run in
headless Chromium)."""

from __future__ import annotations

import pytest

from server.sendrate import CONGESTED, FramePacer, SendRate, congested_turns


def _rates(updates: list[tuple[int, int]], **options) -> list[float]:  # noqa: ANN003
    """The rate after each of `updates`: cumulative (frames out, frames lost), a second
    apart."""
    rate = SendRate(**options)
    return [rate.update(out, lost, 1.0) for out, lost in updates]


def test_the_rate_holds_while_the_server_keeps_up() -> None:
    assert _rates([(0, 0), (30, 0), (60, 1), (90, 1)]) == [30, 30, 30, 30]


def test_the_rate_falls_to_the_servers_output_and_climbs_back() -> None:
    # The server renders 20 frames a second and drops 10: ask for 22.
    rates = _rates([(0, 0), (20, 10), (40, 10), (60, 10), (80, 10), (100, 10), (120, 10),
                    (140, 10), (160, 10), (180, 10)])
    assert rates[:2] == [30, 22]
    assert rates[2:] == sorted(rates[2:]) and rates[2] > 22 and rates[-1] == 30


def test_the_rate_holds_while_a_few_frames_are_lost() -> None:
    # 2 of 24 lost (8%): neither behind nor idle.
    assert _rates([(0, 0), (20, 10), (42, 12), (64, 14)])[1:] == [22, 22, 22]


def test_a_mostly_idle_pipeline_climbs_through_a_few_lost_frames() -> None:
    # The same 8% lost, but the heaviest step takes 15 ms: 22 frames keep it busy a third
    # of the second, so those losses are not overload and the rate climbs back to 30.
    rate = SendRate()
    rate.update(0, 0, 1.0, step_ms=15.0)
    assert rate.update(20, 10, 1.0, step_ms=15.0) == 22  # half lost: it falls all the same
    rates = [rate.update(20 + 22 * k, 10 + 2 * k, 1.0, step_ms=15.0) for k in range(1, 6)]
    assert rates == sorted(rates) and rates[0] > 22 and rates[-1] == 30
    # At 40 ms a step, 22 frames fill 88% of the second: the rate holds.
    busy = SendRate()
    busy.update(0, 0, 1.0, step_ms=40.0)
    busy.update(20, 10, 1.0, step_ms=40.0)
    assert [busy.update(20 + 22 * k, 10 + 2 * k, 1.0, step_ms=40.0)
            for k in range(1, 4)] == [22, 22, 22]


def test_the_rate_keeps_its_floor_and_ignores_a_counter_reset() -> None:
    rates = _rates([(0, 0), (0, 30), (0, 60), (5, 60)], min_fps=5)  # nothing rendered
    assert rates[1:3] == [5, 5]
    assert rates[3] > 5  # nothing lost in the last second: back up
    assert _rates([(500, 10), (3, 0)]) == [30, 30]  # the pipeline's counters started over


def test_fewer_frames_in_flight_count_as_none_lost() -> None:
    # Missed = arrived - rendered, frames in flight included: it may fall by a frame.
    assert _rates([(0, 0), (20, 10), (44, 9), (68, 9)])[1:] == pytest.approx([22, 24.2, 26.62])


def test_a_backlog_before_the_pipeline_is_drained() -> None:
    rate = SendRate()
    rate.update(0, 0, 1.0)
    assert rate.update(10, 0, 1.0, backlog=8) == 5  # half the output rate
    assert rate.update(20, 0, 1.0, backlog=4) == 4  # still draining: one less at least
    assert rate.update(30, 0, 1.0, backlog=1) > 4  # drained, nothing lost: back up


def test_long_waits_for_a_turn_at_the_cpus_back_the_rate_off() -> None:
    rate = SendRate()
    rate.update(0, 0, 1.0)
    # Nothing lost, yet the steps waited long for their turns: the rate falls by a share.
    assert rate.update(10, 0, 1.0, congested=True) == 10  # to what it rendered, at once
    assert rate.update(20, 0, 1.0, congested=True) == pytest.approx(8.5)
    assert rate.update(28, 0, 1.0) > 8.5  # short waits again, nothing lost: back up


def test_a_full_house_is_a_wait_longer_than_half_a_step() -> None:
    assert not congested_turns(0, 0.0, 40.0)  # no turns taken: nothing to tell
    assert not congested_turns(10, 0.1, None)  # no step time yet
    assert not congested_turns(10, 10 * 0.019, 40.0)  # 19 ms waits for 40 ms steps
    assert congested_turns(10, 10 * 0.021, 40.0)
    assert CONGESTED == 0.5


def test_bad_rate_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_fps"):
        SendRate(max_fps=10, min_fps=20)
    with pytest.raises(ValueError, match="low"):
        SendRate(low=0.5, high=0.1)
    with pytest.raises(ValueError, match="backoff"):
        SendRate(backoff=1.0)
    with pytest.raises(ValueError, match="backlog"):
        SendRate(backlog_frames=0)
    with pytest.raises(ValueError, match="idle"):
        SendRate(idle=1.0)


def _taken(pacer_take, fps: float) -> int:  # noqa: ANN001
    """Frames taken of 30 s from a 30 fps camera whose frames jitter by up to 3 ms."""
    return sum(bool(pacer_take((i * 1000 / 30 + (i % 3) * 1.5) / 1000)) for i in range(900))


@pytest.mark.parametrize("fps", [30, 21, 12.5])
def test_frames_are_taken_at_the_rate_from_a_30_fps_camera(fps: float) -> None:
    assert abs(_taken(FramePacer(fps).take, fps) - 30 * fps) <= 2


def test_a_pacer_follows_a_new_rate() -> None:
    pacer = FramePacer(30)
    first = sum(pacer.take(i / 30) for i in range(300))
    pacer.fps = 10
    second = sum(pacer.take(i / 30) for i in range(300, 600))
    assert abs(first - 300) <= 1 and abs(second - 100) <= 2


def test_the_pages_pacer_takes_the_same_frames_as_the_clients(static_page) -> None:  # noqa: ANN001
    page = static_page("pacer.js")
    for fps in (30, 21, 12.5):
        js = page.evaluate("""(fps) => {
            const pacer = FramePacer.create(fps);
            const taken = [];
            for (let i = 0; i < 900; i++) {
                if (pacer.take((i * 1000 / 30 + (i % 3) * 1.5) / 1000)) taken.push(i);
            }
            return taken;
        }""", fps)
        py = FramePacer(fps)
        same = [i for i in range(900) if py.take((i * 1000 / 30 + (i % 3) * 1.5) / 1000)]
        assert js == same, fps


def test_the_heaviest_step_is_the_bottleneck_of_every_stage() -> None:
    from server.session import heaviest_step_ms, heavy_step_ms

    snap = {"stages": {"pose": {"p50_ms": 10.0}, "label": {"p50_ms": 1.0},
                       "render": {"p50_ms": 8.0}, "finish": {"p50_ms": 14.0}}}
    assert heaviest_step_ms(snap) == 14.0  # the finish stage, though it takes no turns
    assert heavy_step_ms(snap) == 9.0
    assert heaviest_step_ms({"stages": {"pose": {"p50_ms": 10.0}}}) is None  # not yet
