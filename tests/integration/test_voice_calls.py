"""The voice flow end to end: a queued /v1 voice verification → real Asterisk
→ sipp phone. The ARI play requests name the locale's recordings and each
digit of the code, twice; a phone that keys 1 after "press 1" hears it again."""
from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from engine.flows import voice
from engine.locales import spoken_digits
from engine.verification import Verification
from tests.integration.conftest import outcome_of
from tests.integration.play_spy import plays  # noqa: F401  (a fixture)

NUMBER = "15551230001"
CODE = "407193"
PROMPTS = Path(__file__).resolve().parents[2] / "asterisk" / "prompts"


async def queue_voice(service, settings, locale: str = "", code: str = CODE,
                      number: str = NUMBER) -> str:
    """Accept a voice verification to `number` as /v1 does; its id."""
    account = await service.store.accounts.create("voice", 100000)
    verification = Verification(flow="voice", api="v1", channel="voice", locale=locale,
                                spoken_code=code, caller_id=settings.default_caller_id)
    result, vid, *_ = await service.store.verifications.accept(
        account.account_id, number, verification, price=1, code=code,
        flood_seconds=settings.flood_seconds, max_queue_seconds=settings.max_queue_seconds)
    assert result == "accepted"
    return vid


def said_once(code: str) -> list[str]:
    return ["sound:callverify/your-code-is", *spoken_digits(code)]


async def call_ends(sipp) -> None:
    """The phone got our BYE and its scenario ended well."""
    assert await asyncio.to_thread(sipp.wait, 90) == 0


@pytest.mark.parametrize("locale, lang", [("", None), ("de", "de")])
async def test_the_code_is_said_twice_digit_by_digit_in_the_locale(
        service, settings, phone, plays, clean_redis, locale, lang):
    sipp = phone("answer_silent")
    vid = await queue_voice(service, settings, locale)
    await call_ends(sipp)
    media = [played.media for played in plays]
    assert media[0] == said_once(CODE) + [voice.BETWEEN_TIMES] + said_once(CODE)
    for digit in set(CODE):
        assert media[0].count(f"sound:callverify/digits/{digit}") == 2 * CODE.count(digit)
    assert media[1:] == [[voice.PRESS_1_TO_REPEAT], [voice.GOODBYE]]
    assert {played.lang for played in plays} == {lang}
    assert sipp.invites[0].request_user == NUMBER
    record = outcome_of(clean_redis, vid)
    assert record["outcome_answered"] == "1" and "spoken_code" not in record
    assert CODE not in record.values()


def seconds(name: str) -> float:
    with wave.open(str(PROMPTS / "en" / "callverify" / f"{name}.wav")) as recording:
        return recording.getnframes() / recording.getframerate()


async def test_key_1_after_the_prompt_says_the_code_again(service, settings, phone, plays):
    """The phone keys 1 a second after "press 1" has been said to the end."""
    code = "52"
    once = seconds("your-code-is") + seconds("digits/5") + seconds("digits/pause") + \
        seconds("digits/2")
    prompt_over = 2 * once + 1 + seconds("voice/press-1-to-repeat")
    sipp = phone("answer_dtmf", keys="1", delay_ms=int((prompt_over + 1) * 1000), lead_ms=0)
    await queue_voice(service, settings, code=code)
    await call_ends(sipp)
    media = [played.media for played in plays]
    assert media[:3] == [said_once(code) + [voice.BETWEEN_TIMES] + said_once(code),
                         [voice.PRESS_1_TO_REPEAT], said_once(code)]
    assert media[3:] == [[voice.PRESS_1_TO_REPEAT], [voice.GOODBYE]]


async def test_a_busy_number_hears_nothing_and_the_verdict_says_busy(service, settings, plays,
                                                                     clean_redis):
    """Test number 202 555 0102 answers 486 Busy Here (docs/test-numbers.md)."""
    vid = await queue_voice(service, settings, number="12025550102")
    deadline = asyncio.get_running_loop().time() + 30
    while "outcome_cause" not in (record := outcome_of(clean_redis, vid)):
        assert asyncio.get_running_loop().time() < deadline, record
        await asyncio.sleep(0.2)
    assert (record["outcome_cause"], record["outcome_sip_status"]) == ("17", "486")
    assert record.get("outcome_answered") == "0" and "spoken_code" not in record
    assert plays == []
