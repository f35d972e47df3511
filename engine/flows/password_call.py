"""Password call (the MCN seed API): the code is the end of our calling
number; if the person answers, we also say it, twice. The account's webhook
gets the call record.

This module is the flow's home: the call (`password_call`, set up from a
verification by `run`; its verdict comes when it is over, so `farewell` has
nothing to do), the webhook (`notifications`) and the mapping of an outcome to
the seed's `q931_status` and `final_status`.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine.flows.call import Call, CallEnded, DialPlan
from engine.locales import playback_language, spoken_digits
from engine.notifications import Notification
from engine.outcome import (
    BILLING,
    NORMAL_CLEARING,
    NOT_DIALLED,
    RESOURCE_UNAVAILABLE,
    RING_TIMEOUT,
    TEMPORARY_FAILURE,
    CallOutcome,
)
from engine.routes import dial_endpoint

if TYPE_CHECKING:
    from engine.settings import Settings
    from engine.store import Store
    from engine.verification import Verification

NAME = "password_call"
LEGACY_NAME = "cli"  # the name records stored before flows had one name

YOUR_CODE_IS = "sound:callverify/your-code-is"
PAUSE = "sound:silence/1"
Progress = Callable[[str, bool], Awaitable[None]]


@dataclass
class PasswordCallResult:
    is_redirect: bool = False
    spoken: bool = False


def code_announcement(code: str, your_code_is: str = YOUR_CODE_IS, locale: str = "") -> list[str]:
    """'Your code is 1 2 3 4', twice: in English with Asterisk's digits, in
    another locale with that locale's own recorded digits."""
    digits = [f"digits:{code}"] if playback_language(locale) is None else spoken_digits(code)
    once = [your_code_is, *digits]
    return once + [PAUSE] + once


async def redirect_seen(call: Call) -> bool:
    """Evidence of forwarding so far: the redirecting number in the channel's
    snapshots (Diversion or History-Info), or a 3xx (ARI's Dial `forward`).
    Where the snapshots never say (an older Asterisk), the channel's
    `REDIRECTING(count)` is asked."""
    if call.record.forwarded or call.record.redirected is not None:
        return call.record.forwarded
    count = await call.ari.rest.channel_variable(call.channel_id, "REDIRECTING(count)")
    return bool(count and count.isdigit() and int(count) > 0)


async def password_call(call: Call, dial: DialPlan, code: str,
                        on_progress: Progress, locale: str = "") -> PasswordCallResult:
    """Ring for the ring window from `<prefix><code>`; on answer say the code
    (in `locale`), hang up.

    Whether the call was forwarded is reported at each point where the
    evidence may have arrived: when the phone rings, when it answers, and when
    the call fails before an answer.
    """
    result = PasswordCallResult()

    async def ringing() -> None:
        await on_progress("ringing", await redirect_seen(call))

    if not await call.dial(dial, on_ringing=ringing):
        result.is_redirect = call.record.forwarded
        await on_progress("ended", result.is_redirect)
        return result
    try:
        result.is_redirect = await redirect_seen(call)
        await on_progress("answered", result.is_redirect)
        await call.play(code_announcement(code, locale=locale), interruptible=False,
                        lang=playback_language(locale))
        result.spoken = True
    except CallEnded:
        pass
    finally:
        await call.hang_up()
    return result


async def run(call: Call, verification: Verification, settings: Settings,
              store: Store) -> CallOutcome:
    """The call for one queued verification, to its end: its verdict."""
    waited_for = verification.is_with_redirect  # the API's answer waits for the evidence

    async def on_progress(stage: str, is_redirect: bool) -> None:
        if stage == "ended" and not waited_for:
            return  # the verdict stores the same, and no answer waits for it now
        await store.verifications.report_progress(verification.id, stage, is_redirect,
                                                  notify=waited_for)

    ring = verification.ring_seconds or settings.password_ring_seconds
    dial = DialPlan(
        endpoint=dial_endpoint(verification.e164, settings, store.phones),
        caller_id=verification.caller_number,
        ring_timeout=ring, call_cap_seconds=settings.call_cap_seconds,
        app_args=f"{NAME},{verification.id}")
    result = await password_call(call, dial, verification.spoken_code, on_progress,
                                 verification.locale)
    return CallOutcome.from_call(call.record, ring_timeout=ring, is_redirect=result.is_redirect)


async def farewell(call: Call, verification: Verification, settings: Settings,
                   outcome: CallOutcome) -> None:
    """Nothing: the verdict comes when the call is over."""


def call_status(outcome: CallOutcome) -> tuple[int, str]:
    """The webhook's (q931_status, final_status), as the seed maps them.

    Answered 16/ANSWER; our cancel at the end of the ring window 16/CANCEL;
    billing 41; otherwise the cause Asterisk reported (17 busy, 21 for 603,
    34 for 503, ...), or 47 when the call never reached the network.
    """
    if outcome.failure == BILLING:
        return TEMPORARY_FAILURE, "CANCEL"
    if outcome.answered:
        return NORMAL_CLEARING, "ANSWER"
    if outcome.failure == RING_TIMEOUT:
        return NORMAL_CLEARING, "CANCEL"
    return (outcome.cause or RESOURCE_UNAVAILABLE), "CANCEL"


def _iso(epoch: float) -> str | None:
    if not epoch:
        return None
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_record(verification: Verification, outcome: CallOutcome) -> dict:
    """Every variable the webhook can carry.

    `cost` is the price charged (integer units in the record) in currency:
    units / money_scale, the scale the API recorded with the price; 0 when
    nothing was charged (billing) or the charge was refunded (not dialled).
    """
    q931, final = call_status(outcome)
    start, end = outcome.placed_at, outcome.ended_at
    charged = outcome.failure != BILLING and outcome.failure not in NOT_DIALLED
    return {
        "verification_call_uuid": f"{verification.id}_{verification.account_id}",
        "phone_number": verification.phone_number,
        "caller_number": verification.caller_number,
        "q931_status": q931,
        "final_status": final,
        "is_redirect": outcome.is_redirect,
        "start_time": _iso(start),
        "answer_time": _iso(outcome.answered_at),
        "end_time": _iso(end),
        "duration": round(end - start) if start and end else 0,
        "billsec": round(end - outcome.answered_at) if outcome.answered_at and end else 0,
        "cost": verification.price / (verification.money_scale or 10000) if charged else 0,
    }


def notifications(verification: Verification, outcome: CallOutcome) -> list[Notification]:
    """The call record, POSTed as JSON with the subscription's fields only."""
    if not verification.webhook_url:
        return []
    record = call_record(verification, outcome)
    wanted = json.loads(verification.webhook_fields or "null") or list(record)
    payload = {name: record[name] for name in wanted if name in record}
    return [Notification("password_call_webhook", "POST", verification.webhook_url,
                         payload=payload)]
