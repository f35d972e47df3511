"""Reverse verify (the called.in seed API): we call, the person keys in the
code the site showed; the site hears the verdict on its callback URL.

This module is the flow's home: the call up to its verdict (`reverse_verify`,
set up from a verification by `run`), the closing prompt after it
(`farewell`), what the customer is told (`notifications`) and the mapping of
an outcome to the seed's callback `reason`.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.caller_ids import shown_caller_id
from engine.flows.call import Call, CallEnded, DialPlan
from engine.flows.digits import collect_digits
from engine.locales import playback_language
from engine.notifications import Notification
from engine.outcome import (
    CALL_REJECTED,
    CONGESTION_CAUSES,
    NO_ANSWER,
    NO_USER_RESPONSE,
    NORMAL_CLEARING,
    RING_TIMEOUT,
    SUBSCRIBER_ABSENT,
    USER_BUSY,
    CallOutcome,
)
from engine.routes import dial_endpoint

if TYPE_CHECKING:
    from engine.settings import Settings
    from engine.store import Store
    from engine.verification import Verification

NAME = "reverse_verify"
LEGACY_NAME = "dtmf"  # the name records stored before flows had one name

DEFAULT_PROMPTS = {
    "enter_code": ["sound:callverify/enter-code"],
    "incorrect": ["sound:callverify/incorrect"],
    "verified": ["sound:callverify/verified"],
    "goodbye": ["sound:callverify/goodbye"],
}


@dataclass(frozen=True)
class KeypadPolicy:
    code_len: int
    max_attempts: int = 3
    first_digit_timeout: float = 10.0
    inter_digit_timeout: float = 5.0
    prompts: dict = field(default_factory=lambda: dict(DEFAULT_PROMPTS))
    language: str | None = None  # the locale's recordings (engine/locales.py); None: English


@dataclass
class KeypadResult:
    attempts: int = 0
    digits_count: int = 0
    matched: bool = False
    last_digit_at: float = 0.0


async def reverse_verify(call: Call, dial: DialPlan, policy: KeypadPolicy,
                         code_matches: Callable[[str], Awaitable[bool]]) -> KeypadResult:
    """Call, ask for the code, give up to `max_attempts` tries: the verdict.

    The call is left up for `farewell`, so the customer hears the verdict
    without waiting for the closing prompt.
    """
    result = KeypadResult()
    if not await call.dial(dial):
        return result
    try:
        await call.play(policy.prompts["enter_code"], lang=policy.language)
        while result.attempts < policy.max_attempts and not result.matched:
            result.attempts += 1
            entry = await collect_digits(call, max_digits=policy.code_len,
                                         first_timeout=policy.first_digit_timeout,
                                         inter_timeout=policy.inter_digit_timeout)
            result.digits_count = len(entry.digits)
            result.last_digit_at = entry.last_digit_at or result.last_digit_at
            result.matched = bool(entry.digits) and await code_matches(entry.digits)
            if not result.matched and result.attempts < policy.max_attempts:
                await call.play(policy.prompts["incorrect"], lang=policy.language)
    except CallEnded:
        pass
    return result


async def say_goodbye(call: Call, policy: KeypadPolicy, matched: bool) -> None:
    """The closing prompt after the verdict (the engine hangs up after it)."""
    await call.play(policy.prompts["verified"] if matched else policy.prompts["goodbye"],
                    interruptible=False, lang=policy.language)


def keypad_policy(verification: Verification, settings: Settings) -> KeypadPolicy:
    return KeypadPolicy(code_len=verification.code_len, max_attempts=settings.max_attempts,
                        first_digit_timeout=settings.first_digit_timeout,
                        inter_digit_timeout=settings.inter_digit_timeout,
                        prompts={**DEFAULT_PROMPTS, **settings.prompts},
                        language=playback_language(verification.locale))


async def run(call: Call, verification: Verification, settings: Settings,
              store: Store) -> CallOutcome:
    """The call for one queued verification, up to its verdict."""
    async def code_matches(entered: str) -> bool:
        return await store.verifications.code_matches(verification.id, verification.code_hmac,
                                                      entered)

    dial = DialPlan(
        endpoint=dial_endpoint(verification.e164, settings, store.phones),
        # Never an emergency or short number, even one stored before the rules.
        caller_id=shown_caller_id(verification.caller_id, settings.default_caller_id),
        ring_timeout=settings.ring_timeout, call_cap_seconds=settings.call_cap_seconds,
        app_args=f"{NAME},{verification.id}")
    result = await reverse_verify(call, dial, keypad_policy(verification, settings),
                                  code_matches)
    return CallOutcome.from_call(call.record, ring_timeout=settings.ring_timeout,
                                 attempts=result.attempts, digits_count=result.digits_count,
                                 matched=result.matched, last_digit_at=result.last_digit_at)


async def farewell(call: Call, verification: Verification, settings: Settings,
                   outcome: CallOutcome) -> None:
    """After the verdict, on a call still up: the closing prompt."""
    await say_goodbye(call, keypad_policy(verification, settings), outcome.matched)


def callback_reason(outcome: CallOutcome) -> str:
    """The seed callback's `reason`: empty when answered."""
    if outcome.answered:
        return ""
    # Unreachable (Q.850 20: a softphone with no device registered) is told as no answer.
    if outcome.failure == RING_TIMEOUT or outcome.cause in (NO_USER_RESPONSE, NO_ANSWER,
                                                            SUBSCRIBER_ABSENT):
        return "3"
    if outcome.failure:
        return "0"
    if outcome.cause == USER_BUSY:
        return "5"
    if outcome.cause in CONGESTION_CAUSES or outcome.sip_status == 503:
        return "8"
    if outcome.cause in (NORMAL_CLEARING, CALL_REJECTED):
        return "1"
    return "0"


def notifications(verification: Verification, outcome: CallOutcome) -> list[Notification]:
    """The seed's callback: GET with its six parameters (none without a callback URL)."""
    if not verification.callback_url:
        return []
    params = {"phone_number": verification.phone_number,
              "country_code": verification.country_code,
              "secret": verification.secret,
              "match": "1" if outcome.matched else "0",
              "answered": "1" if outcome.answered else "0",
              "reason": callback_reason(outcome)}
    return [Notification("reverse_verify_callback", "GET", verification.callback_url,
                         params=params)]
