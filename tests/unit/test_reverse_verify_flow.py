import pytest

from engine.flows.call import Call, DialPlan
from engine.flows.reverse_verify import KeypadPolicy, callback_reason, reverse_verify, say_goodbye
from engine.outcome import CallOutcome
from tests.unit.scripted_ari import ScriptedAri, answered, failed, playback_finishes

DIAL = DialPlan(endpoint="PJSIP/15551234567@trunk", caller_id="0000000000",
                ring_timeout=5, call_cap_seconds=120)
POLICY = KeypadPolicy(code_len=4, first_digit_timeout=0.3, inter_digit_timeout=0.3)


def keyed(*entries):
    """A phone that keys one entry at each prompt (enter-code, then each retry)."""
    entries = list(entries)

    def on_play(args):
        if entries and args["media"] != POLICY.prompts["verified"] and args["media"] != POLICY.prompts["goodbye"]:
            digits = entries.pop(0)
            return [{"type": "ChannelDtmfReceived", "digit": d} for d in digits]
        return playback_finishes(args)
    return on_play


async def run(ari):
    async def matches(entered):
        return entered == "1234"
    call = Call(ari, "cvtest.v1")
    result = await reverse_verify(call, DIAL, POLICY, matches)
    # As the engine goes on after the verdict: the closing prompt, then hang up.
    if call.record.answered and not call.record.ended_at:
        await say_goodbye(call, POLICY, result.matched)
    await call.hang_up()
    return call, result


async def test_right_code_first_time():
    ari = ScriptedAri({"originate": answered, "play": keyed("1234#")})
    call, result = await run(ari)
    assert (result.matched, result.attempts, result.digits_count) == (True, 1, 4)
    assert ("play", POLICY.prompts["verified"]) in ari.rest.requests
    assert ari.rest.requests[-1] == ("hang_up", "cvtest.v1")


async def test_wrong_then_right_takes_two_attempts():
    ari = ScriptedAri({"originate": answered, "play": keyed("9999", "1234")})
    _, result = await run(ari)
    assert (result.matched, result.attempts) == (True, 2)


async def test_three_wrong_codes_fail():
    ari = ScriptedAri({"originate": answered, "play": keyed("1", "2", "3")})
    _, result = await run(ari)
    assert (result.matched, result.attempts) == (False, 3)
    assert ("play", POLICY.prompts["goodbye"]) in ari.rest.requests


async def test_hang_up_during_prompt():
    ari = ScriptedAri({"originate": answered,
                       "play": lambda a: [{"type": "ChannelHangupRequest", "cause": 16}]})
    call, result = await run(ari)
    assert not result.matched and call.record.answered and call.record.hung_up_by == "far end"


async def test_busy_never_plays():
    ari = ScriptedAri({"originate": failed(17)})
    call, result = await run(ari)
    assert result.attempts == 0 and not call.record.answered
    assert not [r for r in ari.rest.requests if r[0] == "play"]


@pytest.mark.parametrize("outcome,reason", [
    (CallOutcome(answered=True, cause=16), ""),
    (CallOutcome(cause=17), "5"),
    (CallOutcome(failure="ring_timeout", cause=16), "3"),
    (CallOutcome(cause=19), "3"),
    (CallOutcome(cause=20), "3"),  # a softphone with no device registered
    (CallOutcome(cause=34), "8"),
    (CallOutcome(cause=38), "8"),
    (CallOutcome(cause=21), "1"),
    (CallOutcome(cause=16), "1"),
    (CallOutcome(failure="originate_failed"), "0"),
    (CallOutcome(cause=1), "0"),
])
def test_callback_reason(outcome, reason):
    assert callback_reason(outcome) == reason


def test_outcome_round_trips_through_redis_fields():
    outcome = CallOutcome(answered=True, cause=16, attempts=2, matched=True, placed_at=1.5)
    assert CallOutcome.from_fields(outcome.to_fields()) == outcome


async def test_prompts_play_in_the_policys_language_and_english_as_before():
    for language in (None, "de"):
        ari = ScriptedAri({"originate": answered, "play": keyed("9999", "1234")})
        call = Call(ari, "cvtest.v1")
        policy = KeypadPolicy(code_len=4, first_digit_timeout=0.3, inter_digit_timeout=0.3,
                              language=language)
        result = await reverse_verify(call, DIAL, policy, lambda entered: _is(entered, "1234"))
        await say_goodbye(call, policy, result.matched)
        assert result.matched and ari.rest.languages == [language] * 3


async def _is(entered: str, code: str) -> bool:
    return entered == code
