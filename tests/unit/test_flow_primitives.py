import asyncio

import pytest

from engine.ari.rest import AriError
from engine.flows.call import Call, CallEnded
from engine.flows.digits import Entry, collect_digits
from tests.unit.scripted_ari import ScriptedAri, answered, failed, playback_finishes


async def answered_call(ari: ScriptedAri) -> Call:
    call = Call(ari, "cvtest.abc")
    assert await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    return call


async def test_place_reports_answer_and_ringing():
    ari = ScriptedAri({"originate": answered})
    call = await answered_call(ari)
    assert call.record.answered and call.record.ringing_at > 0


async def test_place_reports_failure_cause():
    ari = ScriptedAri({"originate": failed(17)})
    call = Call(ari, "cvtest.abc")
    assert not await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert call.record.cause == 17 and not call.record.answered


async def test_collect_complete_at_code_length():
    ari = ScriptedAri({"originate": answered})
    call = await answered_call(ari)
    ari.keys("1111")
    entry = await collect_digits(call, max_digits=4, first_timeout=1, inter_timeout=1)
    assert (entry.digits, entry.result) == ("1111", Entry.COMPLETE)


async def test_collect_ends_on_terminator_and_skips_a_leading_one():
    ari = ScriptedAri({"originate": answered})
    call = await answered_call(ari)
    ari.keys("#12#")
    entry = await collect_digits(call, max_digits=6, first_timeout=1, inter_timeout=1)
    assert (entry.digits, entry.result) == ("12", Entry.TERMINATED)


async def test_collect_inter_digit_and_first_digit_timeouts():
    ari = ScriptedAri({"originate": answered})
    call = await answered_call(ari)
    ari.keys("12")
    entry = await collect_digits(call, max_digits=4, first_timeout=0.2, inter_timeout=0.1)
    assert (entry.digits, entry.result) == ("12", Entry.INTER_DIGIT_TIMEOUT)
    entry = await collect_digits(call, max_digits=4, first_timeout=0.1, inter_timeout=0.1)
    assert (entry.digits, entry.result) == ("", Entry.NO_INPUT)


async def test_other_events_do_not_extend_the_digit_timeout():
    ari = ScriptedAri({"originate": answered})
    call = await answered_call(ari)

    async def chatter():
        for _ in range(10):
            await asyncio.sleep(0.05)
            ari.send({"type": "ChannelVarset"})
    task = asyncio.create_task(chatter())
    entry = await collect_digits(call, max_digits=4, first_timeout=0.2, inter_timeout=0.2)
    task.cancel()
    assert entry.result is Entry.NO_INPUT


async def test_hangup_while_collecting_raises():
    ari = ScriptedAri({"originate": answered})
    call = await answered_call(ari)
    ari.keys("1")
    ari.send({"type": "ChannelHangupRequest", "cause": 16})
    with pytest.raises(CallEnded):
        await collect_digits(call, max_digits=4, first_timeout=1, inter_timeout=1)
    assert call.record.cause == 16 and call.record.hung_up_by == "far end"


async def test_digit_interrupts_prompt_and_is_kept():
    ari = ScriptedAri({"originate": answered, "play": lambda a: [
        {"type": "ChannelDtmfReceived", "digit": "7"}]})
    call = await answered_call(ari)
    assert await call.play(["sound:x"]) is True
    assert ("stop_playback", "cvtest.abc-p1") in ari.rest.requests
    assert list(call.digits) == ["7"]


async def test_prompt_plays_to_the_end_without_digits():
    ari = ScriptedAri({"originate": answered, "play": playback_finishes})
    call = await answered_call(ari)
    assert await call.play(["sound:x"]) is False


class FlakyOriginate:
    def __init__(self, errors):
        self.errors = list(errors)

    def install(self, ari):
        real = ari.rest.originate

        async def originate(**kwargs):
            if self.errors:
                ari.rest.requests.append(("originate-failed", kwargs))
                raise AriError(self.errors.pop(0), "scripted")
            return await real(**kwargs)
        ari.rest.originate = originate


async def test_unreachable_ari_is_retried_then_the_call_goes_through(monkeypatch):
    monkeypatch.setattr("engine.flows.call.asyncio.sleep", _no_sleep)
    ari = ScriptedAri({"originate": answered})
    FlakyOriginate([0, 503]).install(ari)
    call = Call(ari, "cvtest.abc")
    assert await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert [r[0] for r in ari.rest.requests] == ["originate-failed", "originate-failed", "originate"]


async def test_a_refused_originate_is_not_retried(monkeypatch):
    monkeypatch.setattr("engine.flows.call.asyncio.sleep", _no_sleep)
    ari = ScriptedAri({"originate": answered})
    FlakyOriginate([400]).install(ari)
    call = Call(ari, "cvtest.abc")
    assert not await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert "400" in call.record.originate_error
    assert len(ari.rest.requests) == 1


async def test_originate_gives_up_after_three_tries(monkeypatch):
    monkeypatch.setattr("engine.flows.call.asyncio.sleep", _no_sleep)
    ari = ScriptedAri({"originate": answered})
    FlakyOriginate([0, 0, 0]).install(ari)
    call = Call(ari, "cvtest.abc")
    assert not await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert len(ari.rest.requests) == 3


async def _no_sleep(_seconds):
    return None
