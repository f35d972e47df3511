"""The pure parts of a /v1 verification's life after its creation: what one
check does to the record, when the sweep expires a window, the Call's
progress hook, and a canceled call's outcome."""
from __future__ import annotations

import json

from api.v1_actions import _code
from engine.flows.call import Call
from engine.outcome import CallOutcome
from engine.v1_checks import after_check
from engine.v1_engine import V1Calls
from engine.v1_expiry import expires_now, window_closed
from engine.verification import Verification
from tests.unit.scripted_ari import ScriptedAri, answered, failed

NOW = 1_000_000.0


def delivered(**fields) -> Verification:
    """A caller-ID verification whose call rang and answered, its window open to NOW + 60."""
    return Verification(**{
        "flow": "password_call", "api": "v1", "channel": "caller_id", "status": "done",
        "created_at": NOW - 60, "expires_at": NOW + 60, "finished_at": NOW - 50,
        "outcome": CallOutcome(answered=True, ringing_at=NOW - 58, answered_at=NOW - 57,
                               ended_at=NOW - 50), **fields})


def test_a_right_check_verifies():
    after = after_check(delivered(checks=2), True, 5, NOW)
    assert (after.checks, after.final, after.final_reason, after.final_at) == (
        3, "verified", "", NOW)


def test_wrong_checks_count_and_the_last_allowed_one_fails():
    assert after_check(delivered(checks=3), False, 5, NOW).final == ""
    after = after_check(delivered(checks=4), False, 5, NOW)
    assert (after.checks, after.final, after.final_reason) == (5, "failed", "wrong_code")


def test_a_window_expires_once_after_its_time():
    assert not expires_now(delivered(), NOW)
    assert expires_now(delivered(), NOW + 61)
    assert not expires_now(delivered(final="expired", final_reason="expired"), NOW + 61)
    assert not expires_now(delivered(final="verified"), NOW + 61)


def test_a_call_still_up_is_watched_and_one_over_its_window_was_told_at_its_verdict():
    calling = Verification(flow="password_call", api="v1", channel="caller_id",
                           status="calling", progress="answered", expires_at=NOW + 60)
    assert not expires_now(calling, NOW + 61) and not window_closed(calling, NOW + 61)
    late = delivered(finished_at=NOW + 70)
    assert not expires_now(late, NOW + 71) and window_closed(late, NOW + 71)


def test_a_window_closes_when_ended_otherwise_or_gone():
    assert window_closed(None, NOW)
    assert window_closed(delivered(final="canceled"), NOW)
    assert not window_closed(delivered(), NOW)
    unanswered = delivered(outcome=CallOutcome(cause=17, ended_at=NOW - 50))
    assert window_closed(unanswered, NOW)  # failed: the code never reached the phone


def test_a_check_takes_4_to_10_digits():
    assert _code(json.dumps({"code": "0042"}).encode()) == "0042"
    for body in ({"code": "123"}, {"code": "12345678901"}, {"code": 1234}, {"code": "12a4"},
                 {}, [], "1234"):
        refused = _code(json.dumps(body).encode())
        assert not isinstance(refused, str) and refused.status == 400
    assert _code(b"{").status == 400
    assert _code(b"\xff").status == 400
    assert _code(b"[" * 100_000 + b"]" * 100_000).status == 400


async def test_the_progress_hook_hears_ringing_once_then_answered():
    ari = ScriptedAri({"originate": lambda args: [answered(args)[0], answered(args)[0],
                                                  answered(args)[1]]})
    heard: list[str] = []

    async def progressed(stage: str) -> None:
        heard.append(stage)

    call = Call(ari, "cvtest.abc")
    call.on_progress = progressed
    assert await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert heard == ["ringing", "answered"]


async def test_a_hook_that_hangs_up_on_answer_ends_the_placing():
    ari = ScriptedAri({"originate": answered})
    call = Call(ari, "cvtest.abc")

    async def canceled(stage: str) -> None:
        if stage == "answered":
            await call.hang_up()

    call.on_progress = canceled
    assert not await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert ("hang_up", "cvtest.abc") in ari.rest.requests


async def test_a_call_without_the_hook_is_placed_as_before():
    ari = ScriptedAri({"originate": failed(17)})
    call = Call(ari, "cvtest.abc")
    assert not await call.place(endpoint="PJSIP/1@trunk", caller_id="0", ring_timeout=5)
    assert call.on_progress is None


async def test_a_call_hung_up_on_a_cancel_ends_canceled():
    ari = ScriptedAri({"originate": lambda args: [answered(args)[0]]})
    call = Call(ari, "cvtest.abc")
    v1 = V1Calls.__new__(V1Calls)  # only the call bookkeeping, no store
    v1.calls, v1.canceled = {call.channel_id: call}, set()
    v1.channel_id = lambda vid: f"cvtest.{vid}"
    await v1.hang_up("abc")
    assert v1.outcome(call, CallOutcome()).failure == "canceled"
    assert v1.outcome(call, CallOutcome()).failure == ""  # told once
    await v1.hang_up("other")  # not this engine's call: nothing
    assert ari.rest.requests.count(("hang_up", "cvtest.abc")) == 1
