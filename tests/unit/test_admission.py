"""The engine's admission window (engine/admission.py) and the set-up report
of a call (engine/flows/call.py) that feeds it."""
from __future__ import annotations

import pytest

from engine.admission import DECREASE, Admission
from engine.flows.call import Call
from tests.unit.scripted_ari import ScriptedAri, answered, failed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def window(start: int = 8, ceiling: int = 100, floor: int = 2) -> tuple[Admission, Clock]:
    clock = Clock()
    return Admission(ceiling, start=start, floor=floor, target=1.0, clock=clock), clock


async def test_calls_start_only_while_the_window_has_room():
    admission, _ = window(start=3)
    held = [admission.start() for _ in range(3)]
    assert admission.free == 0
    assert await admission.wait_for_room(0.05) is False
    held[0].ended(0.1)
    assert admission.free >= 1 and await admission.wait_for_room(0.05) is True


def test_a_slow_set_up_shrinks_the_window_once_per_target_interval():
    admission, clock = window(start=10)
    set_ups = [admission.start() for _ in range(4)]
    set_ups[0].ended(3.0)
    assert admission.limit == pytest.approx(10 * DECREASE)
    set_ups[1].ended(3.0)  # the same slow burst: counted once
    assert admission.limit == pytest.approx(10 * DECREASE)
    clock.now += 1.5
    set_ups[2].ended(3.0)
    assert admission.limit == pytest.approx(10 * DECREASE * DECREASE)
    for _ in range(20):
        clock.now += 1.5
        admission.start().ended(5.0)
    assert admission.limit == 2  # the floor


def test_set_ups_in_time_grow_the_window_up_to_the_engines_cap():
    admission, _ = window(start=4, ceiling=6)
    for _ in range(4):
        admission.start().ended(0.05)
    assert admission.limit == pytest.approx(5, abs=0.1)  # about one more per full window
    for _ in range(200):
        admission.start().ended(0.05)
    assert admission.limit == 6


def test_a_set_up_is_given_back_once():
    admission, _ = window(start=4)
    set_up = admission.start()
    set_up.drop()
    set_up.ended(9.0)  # after a drop: neither counted nor given back again
    assert admission.setting_up == 0 and admission.limit == 4


@pytest.mark.parametrize("script, placed", [(answered, True), (failed(17), False)])
async def test_a_call_reports_its_set_up_once(script, placed):
    reports: list[float] = []
    call = Call(ScriptedAri({"originate": script}), "cvtest.abc")
    call.on_set_up = reports.append
    assert await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5) is placed
    assert len(reports) == 1 and 0 <= reports[0] < 1 and call.on_set_up is None
