"""The /v1 verification object: status, failure reason and diagnostics from the record."""
from __future__ import annotations

import json

from api.v1_problems import PROBLEMS, problem
from engine import registry
from engine.outcome import CANCELED, ENGINE_LOST, EXPIRED, RING_TIMEOUT, CallOutcome
from engine.v1_events import TYPES, events
from engine.v1_status import FAILURE_REASONS, STATUSES, call_reason, status_of, view
from engine.verification import Verification

NOW = 1_800_000_000.0


def record(channel: str, status: str = "done", outcome: CallOutcome | None = None,
           **fields) -> Verification:
    return Verification(flow="x", api="v1", channel=channel, id="abc", e164="12025550100",
                        status=status, created_at=NOW - 60, outcome=outcome, **fields)


def answered(**kw) -> CallOutcome:
    return CallOutcome(answered=True, placed_at=NOW - 50, ringing_at=NOW - 49,
                       answered_at=NOW - 47, ended_at=NOW - 30, cause=16, **kw)


def test_queued_and_calling_follow_the_record_and_its_progress():
    assert status_of(record("keypad", "queued"), NOW) == ("queued", None)
    assert status_of(record("keypad", "calling"), NOW) == ("calling", None)
    assert status_of(record("keypad", "calling", progress="ringing"), NOW) == ("ringing", None)
    assert status_of(record("voice", "calling", progress="answered"), NOW) == ("answered", None)


def test_keypad_ends_with_its_call():
    assert status_of(record("keypad", outcome=answered(matched=True, attempts=1)), NOW) == (
        "verified", None)
    assert status_of(record("keypad", outcome=answered(digits_count=4)), NOW) == (
        "failed", "wrong_code")
    assert status_of(record("keypad", outcome=answered()), NOW) == ("failed", "no_input")
    busy = CallOutcome(cause=17, sip_status=486, placed_at=NOW - 5, ended_at=NOW - 4)
    assert status_of(record("keypad", outcome=busy), NOW) == ("failed", "busy")


def test_a_delivered_code_waits_for_checks_until_it_expires():
    voice = record("voice", outcome=answered(), expires_at=NOW + 10)
    assert status_of(voice, NOW) == ("answered", None)
    assert status_of(voice, NOW + 11) == ("expired", "expired")
    rang = CallOutcome(placed_at=NOW - 50, ringing_at=NOW - 49, ended_at=NOW - 20,
                       failure=RING_TIMEOUT)
    assert status_of(record("caller_id", outcome=rang, expires_at=NOW + 10), NOW) == (
        "ringing", None)
    assert status_of(record("voice", outcome=rang, expires_at=NOW + 10), NOW) == (
        "failed", "no_answer")


def test_final_and_engine_failures_win():
    assert status_of(record("voice", outcome=answered(), final="verified"), NOW) == (
        "verified", None)
    assert status_of(record("voice", final="failed", final_reason="wrong_code"), NOW) == (
        "failed", "wrong_code")
    for failure, expected in ((EXPIRED, ("expired", "expired")),
                              (CANCELED, ("canceled", "canceled")),
                              (ENGINE_LOST, ("failed", "engine_lost"))):
        assert status_of(record("keypad", outcome=CallOutcome(failure=failure)), NOW) == expected


def test_call_reasons():
    assert call_reason(CallOutcome(cause=21, sip_status=603)) == "rejected"
    assert call_reason(CallOutcome(cause=34, sip_status=503)) == "congestion"
    assert call_reason(CallOutcome(cause=19)) == "no_answer"
    assert call_reason(CallOutcome(cause=23)) == "redirected"
    assert call_reason(CallOutcome(cause=99)) == "call_failed"
    assert set(FAILURE_REASONS) >= {"no_answer", "busy", "rejected", "congestion",
                                    "wrong_code", "no_input", "expired", "canceled",
                                    "engine_lost"}


def test_view_carries_the_diagnostics():
    v = record("keypad", outcome=answered(matched=True, attempts=2, sip_status=200),
               price=100, money_scale=10000, caller_id="15550000")
    shown = view(v, NOW)
    assert shown["status"] == "verified" and shown["phone"] == "+12025550100"
    assert shown["post_dial_delay_ms"] == 1000 and shown["ring_ms"] == 2000
    assert shown["duration_s"] == 17.0 and shown["attempts"] == 2
    assert shown["q850_cause"] == 16 and shown["answered"] is True
    assert shown["price"] == 0.01 and shown["checks_left"] is None
    assert shown["created_at"].endswith("Z") and shown["expires_at"] is None
    fresh = view(record("voice", "queued", expires_at=NOW + 600), NOW)
    assert fresh["checks_left"] == 5 and fresh["sip_status"] is None
    assert fresh["status"] in STATUSES


def test_events_go_to_the_webhook_and_the_callback_once_each():
    v = record("keypad", outcome=answered(matched=True), webhook_url="https://a.example/h",
               callback_url="https://b.example/c")
    sent = events(v, "verification.verified", NOW)
    assert [n.url for n in sent] == ["https://a.example/h", "https://b.example/c"]
    assert sent[0].payload["type"] in TYPES and sent[0].payload["data"]["status"] == "verified"
    same = record("keypad", webhook_url="https://a.example/h", callback_url="https://a.example/h")
    assert len(events(same, "verification.failed", NOW)) == 1


def test_the_verdict_sends_an_event_only_when_it_decides_the_end():
    keypad = record("keypad", "calling", webhook_url="https://a.example/h")
    [event] = registry.notifications_for(keypad, answered(matched=True))
    assert event.payload["type"] == "verification.verified"
    voice = record("voice", "calling", webhook_url="https://a.example/h", expires_at=NOW * 2)
    assert registry.notifications_for(voice, answered()) == []
    assert registry.notifications_for(voice, CallOutcome(cause=17))[0].payload["type"] == (
        "verification.failed")


def test_problems_are_problem_json_with_a_stable_type():
    response = problem("flood", "wait", retry_after=30)
    body = json.loads(response.text)
    assert response.status == 429 and response.content_type == "application/problem+json"
    assert body["type"] == "urn:callverify:problem:flood" and body["status"] == 429
    assert response.headers["Retry-After"] == "30"
    assert all(400 <= status < 600 for status, _ in PROBLEMS.values())
