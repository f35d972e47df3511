"""The engine's admission window (engine/admission.py) and the set-up report
of a call (engine/flows/call.py) that feeds it."""
from __future__ import annotations

import pytest

from engine.admission import DECREASE, GROWTH, INTERVAL, SLOW_SECONDS, Admission
from engine.flows.call import Call
from tests.unit.scripted_ari import ScriptedAri, answered, failed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def window(start: int = 8, ceiling: int = 1000, floor: int = 2) -> tuple[Admission, Clock]:
    clock = Clock()
    return Admission(ceiling, start=start, floor=floor, target=1.0, clock=clock), clock


async def test_calls_start_only_while_the_window_has_room_and_hold_it_to_their_end():
    admission, _ = window(start=3)
    places = [admission.start() for _ in range(3)]
    assert admission.free == 0
    assert await admission.wait_for_room(0.05) is False
    places[0].set_up(3.0)  # a late set-up: the window shrinks, nothing is given back
    assert admission.free == 0
    places[0].release()
    places[1].release()
    assert admission.running == 1 and await admission.wait_for_room(0.05) is True


def test_set_ups_in_time_keep_the_window_ahead_of_a_load_it_carries():
    admission, _ = window(start=4)
    for _ in range(100):  # slow start: one more place per call set up in time,
        admission.start().set_up(0.05)  # from the second (half the window taken)
    assert admission.limit == 103 and admission.free == 3


def test_a_window_that_is_not_used_does_not_grow():
    admission, clock = window(start=50)
    for _ in range(20):  # a light load in slow start: each call ends before the next
        place = admission.start()
        place.set_up(0.05)
        place.release()
    assert admission.limit == 50
    places = [admission.start() for _ in range(30)]
    admission.start().set_up(2.0)  # ends slow start: 31 * DECREASE
    cut = admission.limit
    for place in places:  # the load ends
        place.release()
    for _ in range(3):  # quiet intervals, the window never full: no growth
        clock.now += INTERVAL
        place = admission.start()
        place.set_up(0.05)
        place.release()
    assert admission.limit == cut


def test_the_first_late_set_up_ends_slow_start_and_cuts_below_the_calls_in_progress():
    admission, _ = window(start=4)
    places = [admission.start() for _ in range(100)]
    for place in places:
        place.set_up(0.05)
    places[0].set_up(5.0)  # told once: no effect a second time
    assert admission.limit == 104 and admission.slow_start
    admission.start().set_up(2.0)
    assert not admission.slow_start
    assert admission.limit == pytest.approx(101 * DECREASE) and admission.free == 0


def test_after_slow_start_each_interval_of_set_ups_is_judged_together():
    admission, clock = window(start=4)
    for _ in range(100):  # calls in progress
        admission.start()
    admission.start().set_up(2.0)  # ends slow start: 101 * DECREASE
    cut = admission.limit
    for _ in range(19):  # one late in twenty: under LATE_SHARE, but not none
        admission.start().set_up(0.05)
    clock.now += INTERVAL
    admission.start().set_up(2.0)
    assert admission.limit == cut  # neither cut nor grown
    for _ in range(10):  # an interval with none late: grows by GROWTH and one
        admission.start().set_up(0.05)
    clock.now += INTERVAL
    admission.start().set_up(0.05)
    assert admission.limit == pytest.approx(cut * (1 + GROWTH) + 1)
    grown = admission.limit
    for _ in range(5):  # an interval with a third late: cut to DECREASE of the calls running
        admission.start().set_up(0.05)
        admission.start().set_up(3.0)
    clock.now += INTERVAL
    admission.start().set_up(3.0)
    assert admission.limit == pytest.approx(min(grown, admission.running * DECREASE))


def test_the_window_stays_between_its_floor_and_the_engines_cap():
    admission, clock = window(start=4, ceiling=6)
    for _ in range(20):
        admission.start().set_up(0.01)
    assert admission.limit == 6
    for _ in range(10):
        clock.now += 2
        admission.start().set_up(9.0)
    assert admission.limit >= 2


def test_a_place_is_given_back_once():
    admission, _ = window(start=4)
    place = admission.start()
    place.release()
    place.release()
    assert admission.running == 0


@pytest.mark.parametrize("script, placed", [(answered, True), (failed(17), False)])
async def test_a_call_reports_its_set_up_once(script, placed):
    reports: list[float] = []
    call = Call(ScriptedAri({"originate": script}), "cvtest.abc")
    call.on_set_up = reports.append
    assert await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5) is placed
    assert len(reports) == 1 and 0 <= reports[0] < 1 and call.on_set_up is None


def test_after_slow_start_an_interval_of_slow_set_ups_is_cut_before_any_is_late():
    admission, clock = window(start=200)
    places = [admission.start() for _ in range(100)]
    admission.start().set_up(2.0)  # ends slow start: 101 * DECREASE
    for place in places[:51]:
        place.release()  # 50 calls left
    for _ in range(10):  # slow, none late
        admission.start().set_up(SLOW_SECONDS + 0.1)
    clock.now += INTERVAL
    admission.start().set_up(0.05)
    assert admission.limit == pytest.approx(61 * DECREASE)
