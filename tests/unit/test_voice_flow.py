"""The voice flow against a scripted ARI: the code said twice, slowly, in the
locale's recordings; "press 1" repeats it (at most three times); goodbye."""
from __future__ import annotations

from engine.flows import voice
from engine.flows.call import Call, DialPlan
from engine.flows.voice import VoicePolicy, code_once, say_code
from tests.unit.scripted_ari import ScriptedAri, answered, failed, playback_finishes

DIAL = DialPlan(endpoint="PJSIP/15551234567@trunk", caller_id="0000000000",
                ring_timeout=5, call_cap_seconds=120)
DIGITS = ["sound:callverify/digits/4", "sound:callverify/digits/0",
          "sound:callverify/digits/7"]
ONCE = ["sound:callverify/your-code-is", DIGITS[0], "sound:callverify/digits/pause",
        DIGITS[1], "sound:callverify/digits/pause", DIGITS[2]]


def keys_after_prompt(*keys: str):
    """A phone that keys one entry after each "press 1" prompt (then none)."""
    left = list(keys)

    def on_play(args):
        finished = playback_finishes(args)
        if args["media"] == [voice.PRESS_1_TO_REPEAT] and left:
            return finished + [{"type": "ChannelDtmfReceived", "digit": d} for d in left.pop(0)]
        return finished
    return on_play


async def run(ari: ScriptedAri, locale: str = "", code: str = "407"):
    call = Call(ari, "cvtest.voice")
    result = await say_code(call, DIAL, VoicePolicy(code=code, locale=locale, repeat_wait=0.2))
    if call.record.answered and not call.record.ended_at:
        await call.play([voice.GOODBYE], interruptible=False, lang=None)
    await call.hang_up()
    return result, [r[1] for r in ari.rest.requests if r[0] == "play"]


def test_the_code_is_said_digit_by_digit_with_a_pause_between():
    assert code_once("407") == ONCE


async def test_the_code_is_said_twice_then_press_1_then_goodbye():
    ari = ScriptedAri({"originate": answered, "play": keys_after_prompt()})
    result, played = await run(ari)
    assert played[0] == ONCE + [voice.BETWEEN_TIMES] + ONCE
    assert played[1:] == [[voice.PRESS_1_TO_REPEAT], [voice.GOODBYE]]
    assert (result.times_said, result.repeats) == (2, 0)
    assert ari.rest.languages == [None, None, None]  # English: the channel's own language


async def test_key_1_repeats_the_code_at_most_three_times():
    ari = ScriptedAri({"originate": answered, "play": keys_after_prompt("1", "1", "1", "1")})
    result, played = await run(ari)
    assert (result.times_said, result.repeats) == (5, 3)
    assert played.count(ONCE) == 3 and played.count([voice.PRESS_1_TO_REPEAT]) == 3
    assert played[-1] == [voice.GOODBYE]


async def test_another_key_is_no_repeat():
    ari = ScriptedAri({"originate": answered, "play": keys_after_prompt("5")})
    result, played = await run(ari)
    assert result.repeats == 0 and played[-1] == [voice.GOODBYE]


async def test_key_1_while_the_code_is_said_asks_for_it_again_without_the_prompt():
    def on_play(args):
        first = [r for r in ari.rest.requests if r[0] == "play"] == [("play", args["media"])]
        keyed = [{"type": "ChannelDtmfReceived", "digit": "1"}] if first else []
        return keyed + playback_finishes(args)
    ari = ScriptedAri({"originate": answered, "play": on_play})
    result, played = await run(ari)
    assert result.repeats == 1
    assert played[1] == ONCE  # straight away, no "press 1" first


async def test_a_locale_plays_its_own_recordings():
    ari = ScriptedAri({"originate": answered, "play": keys_after_prompt("1")})
    result, played = await run(ari, locale="de")
    assert result.repeats == 1
    assert ari.rest.languages[:-1] == ["de"] * (len(played) - 1)


async def test_hang_up_while_the_code_is_said():
    ari = ScriptedAri({"originate": answered,
                       "play": lambda a: [{"type": "ChannelHangupRequest", "cause": 16}]})
    result, _ = await run(ari)
    assert result.times_said == 0


async def test_busy_says_nothing():
    ari = ScriptedAri({"originate": failed(17)})
    result, played = await run(ari)
    assert result.times_said == 0 and played == []
