"""What a /v1 verification looks like to its client: its status, why it
failed, and its call's diagnostics, derived from the record (pure).

A keypad verification ends with its call. A voice or caller-ID one whose
code reached the phone waits for the client's checks until `expires_at`;
its status then stays at how far the call got ("answered", or "ringing" for a
caller ID shown on a phone that was not answered).
"""
from __future__ import annotations

from datetime import UTC, datetime

from engine.outcome import (
    ACCOUNT_DISABLED,
    CALL_REJECTED,
    CANCELED,
    CONGESTION_CAUSES,
    ENGINE_LOST,
    EXPIRED,
    NO_ANSWER,
    NO_USER_RESPONSE,
    NORMAL_CLEARING,
    REDIRECTED,
    RING_TIMEOUT,
    SUBSCRIBER_ABSENT,
    USER_BUSY,
    CallOutcome,
)
from engine.verification import Verification

KEYPAD, CALLER_ID, VOICE = "keypad", "caller_id", "voice"
CHANNELS = (KEYPAD, CALLER_ID, VOICE)
CHECKED = (CALLER_ID, VOICE)  # the channels whose code the client checks
# Channel -> the flow that places its call (engine/registry.py).
FLOW_OF = {KEYPAD: "reverse_verify", CALLER_ID: "password_call", VOICE: "voice"}

QUEUED, CALLING, RINGING, ANSWERED = "queued", "calling", "ringing", "answered"
VERIFIED, FAILED = "verified", "failed"
STATUSES = (QUEUED, CALLING, RINGING, ANSWERED, VERIFIED, FAILED, EXPIRED, CANCELED)
ENDED = (VERIFIED, FAILED, EXPIRED, CANCELED)

FAILURE_REASONS = ("no_answer", "busy", "rejected", "congestion", "redirected", "call_failed",
                   "wrong_code", "no_input", "no_key", EXPIRED, CANCELED, ENGINE_LOST,
                   ACCOUNT_DISABLED)


def call_reason(outcome: CallOutcome) -> str:
    """Why an unanswered call failed, in the API's words."""
    cause = outcome.cause
    if outcome.failure == RING_TIMEOUT or cause in (NO_USER_RESPONSE, NO_ANSWER, SUBSCRIBER_ABSENT):
        return "no_answer"
    if outcome.failure == ENGINE_LOST:
        return ENGINE_LOST
    if cause == USER_BUSY:
        return "busy"
    if cause in (CALL_REJECTED, NORMAL_CLEARING):
        return "rejected"
    if cause in CONGESTION_CAUSES or outcome.sip_status == 503:
        return "congestion"
    if cause == REDIRECTED:
        return "redirected"
    return "call_failed"


def code_delivered(verification: Verification, outcome: CallOutcome) -> bool:
    """Whether the code reached the phone: spoken on an answered voice call,
    or shown as the calling number of a caller-ID call that rang."""
    if verification.channel == CALLER_ID:
        return outcome.answered or outcome.ringing_at > 0
    return outcome.answered


def status_of(verification: Verification, now: float) -> tuple[str, str | None]:
    """(status, failure_reason) of a /v1 verification at Unix time `now`."""
    if verification.final:
        return verification.final, verification.final_reason or None
    outcome = verification.outcome
    if verification.status == "queued" or (verification.status != "done" and outcome is None):
        if verification.status == "calling":
            return {"ringing": RINGING, "answered": ANSWERED}.get(verification.progress,
                                                                  CALLING), None
        return QUEUED, None
    if outcome is None:
        return FAILED, "call_failed"
    if outcome.failure in (EXPIRED, CANCELED, ACCOUNT_DISABLED, ENGINE_LOST):
        status = outcome.failure if outcome.failure in (EXPIRED, CANCELED) else FAILED
        return status, outcome.failure
    if verification.channel in CHECKED:
        if not code_delivered(verification, outcome):
            return FAILED, call_reason(outcome)
        if verification.expires_at and now > verification.expires_at:
            return EXPIRED, EXPIRED
        return (ANSWERED if outcome.answered else RINGING), None
    if outcome.matched:
        return VERIFIED, None
    if outcome.answered:
        return FAILED, "wrong_code" if outcome.digits_count else "no_input"
    return FAILED, call_reason(outcome)


def iso(epoch: float) -> str | None:
    """ISO 8601 UTC with milliseconds and "Z"; None for 0 (not known)."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _ms(start: float, end: float) -> int | None:
    return round((end - start) * 1000) if start and end and end >= start else None


def view(verification: Verification, now: float, max_checks: int = 5) -> dict:
    """The verification object of the API (every key present; null when not known)."""
    status, reason = status_of(verification, now)
    outcome = verification.outcome or CallOutcome()
    checked = verification.channel in CHECKED
    ring_end = outcome.answered_at or outcome.ended_at
    return {
        "id": verification.id,
        "phone": "+" + verification.e164 if verification.e164 else None,
        "channel": verification.channel,
        "locale": verification.locale or "en",
        "status": status,
        "failure_reason": reason,
        "caller_id": None if verification.channel == CALLER_ID else (verification.caller_id
                                                                     or None),
        "callback_url": verification.callback_url or None,
        "created_at": iso(verification.created_at),
        "expires_at": iso(verification.expires_at),
        "answered_at": iso(outcome.answered_at),
        "ended_at": iso(outcome.ended_at),
        "checks": verification.checks,
        "checks_left": max(max_checks - verification.checks, 0) if checked else None,
        "attempts": outcome.attempts,
        "answered": outcome.answered,
        "is_redirect": outcome.is_redirect or verification.is_redirect,
        "sip_status": outcome.sip_status or None,
        "q850_cause": outcome.cause or None,
        "post_dial_delay_ms": _ms(outcome.placed_at, outcome.ringing_at),
        "ring_ms": _ms(outcome.ringing_at, ring_end),
        "duration_s": (round(outcome.ended_at - outcome.answered_at, 3)
                       if outcome.answered_at and outcome.ended_at else None),
        "price": verification.price / (verification.money_scale or 10000),
        "refunded": verification.refunded > 0,
    }
