"""The password call's redirect evidence, read where it can arrive, against a scripted ARI."""
from __future__ import annotations

import pytest

from engine.flows.call import Call, CallRecord, DialPlan
from engine.flows.password_call import call_status, code_announcement, password_call
from engine.outcome import CallOutcome
from tests.unit.scripted_ari import ScriptedAri, playback_finishes

DIAL = DialPlan(endpoint="PJSIP/1@trunk", caller_id="4212221234", ring_timeout=5,
                call_cap_seconds=60)
FORWARDED = {"caller_rdnis": "15550001111"}
NOT_FORWARDED = {"caller_rdnis": None}
NOT_SAID = {}  # an older Asterisk's snapshots have no caller_rdnis


def rings_then_answers(snapshot: dict):
    def events(args):
        peer = {"id": args["channel_id"], "state": "Ringing", **snapshot}
        return [{"type": "Dial", "dialstatus": "RINGING", "peer": peer},
                {"type": "StasisStart", "channel": {**peer, "state": "Up"}}]
    return events


def fails_before_answer(snapshot: dict, cause: int = 17):
    def events(args):
        return [{"type": "ChannelDestroyed", "cause": cause, "cause_txt": "x", "tech_cause": 486,
                 "channel": {"id": args["channel_id"], "state": "Down", **snapshot}}]
    return events


async def run(ari: ScriptedAri) -> tuple[list, object]:
    reports = []

    async def on_progress(stage: str, is_redirect: bool) -> None:
        reports.append((stage, is_redirect))

    result = await password_call(Call(ari, "cvtest.pc"), DIAL, "1234", on_progress)
    return reports, result


@pytest.mark.parametrize("snapshot, seen", [(FORWARDED, True), (NOT_FORWARDED, False)])
async def test_the_ring_and_the_answer_report_what_the_snapshots_say(snapshot, seen):
    ari = ScriptedAri({"originate": rings_then_answers(snapshot), "play": playback_finishes})
    reports, result = await run(ari)
    assert reports == [("ringing", seen), ("answered", seen)]
    assert result.is_redirect is seen and result.spoken
    assert not [r for r in ari.rest.requests if r[0] == "variable"]


async def test_an_older_asterisk_is_asked_for_its_redirecting_count():
    ari = ScriptedAri({"originate": rings_then_answers(NOT_SAID), "play": playback_finishes})
    ari.variables["REDIRECTING(count)"] = "1"
    reports, result = await run(ari)
    assert reports == [("ringing", True), ("answered", True)]
    assert ("variable", "REDIRECTING(count)") in ari.rest.requests


@pytest.mark.parametrize("snapshot, seen", [(FORWARDED, True), (NOT_FORWARDED, False)])
async def test_a_call_that_fails_before_an_answer_is_judged_from_its_last_snapshot(snapshot, seen):
    ari = ScriptedAri({"originate": fails_before_answer(snapshot)})
    reports, result = await run(ari)
    assert reports == [("ended", seen)]
    assert result.is_redirect is seen and not result.spoken


async def test_a_3xx_target_counts_as_forwarded():
    def moved(args):
        return [{"type": "Dial", "dialstatus": "CANCEL", "forward": "15550002222",
                 "peer": {"id": args["channel_id"], **NOT_FORWARDED}},
                *fails_before_answer(NOT_FORWARDED, cause=23)(args)]
    reports, result = await run(ScriptedAri({"originate": moved}))
    assert reports == [("ended", True)] and result.is_redirect


async def test_early_media_counts_as_the_ring():
    def progress_then_answer(args):
        peer = {"id": args["channel_id"], "state": "Ringing", **FORWARDED}
        return [{"type": "Dial", "dialstatus": "PROGRESS", "peer": peer},
                {"type": "StasisStart", "channel": {**peer, "state": "Up"}}]
    ari = ScriptedAri({"originate": progress_then_answer, "play": playback_finishes})
    reports, _ = await run(ari)
    assert reports == [("ringing", True), ("answered", True)]


def test_a_moved_call_that_asterisk_ended_without_a_cause_reports_23():
    record = CallRecord("cvtest.pc", placed_at=1.0, ended_at=1.1, forwarded_to="15550002222")
    outcome = CallOutcome.from_call(record, ring_timeout=30)
    assert (outcome.cause, outcome.failure) == (23, "")
    assert call_status(outcome) == (23, "CANCEL")


def test_the_code_is_said_with_asterisks_digits_in_english_and_our_own_in_a_locale():
    english = ["sound:callverify/your-code-is", "digits:1234"]
    assert code_announcement("1234") == english + ["sound:silence/1"] + english
    assert code_announcement("1234", locale="en") == code_announcement("1234")
    german = code_announcement("12", locale="de")
    assert german[:4] == ["sound:callverify/your-code-is", "sound:callverify/digits/1",
                          "sound:callverify/digits/pause", "sound:callverify/digits/2"]
    assert "digits:12" not in german and german.count("sound:callverify/digits/2") == 2
