"""Voice (the native API's `voice` channel): we call and say the code; the
person types it on the site, which checks it (POST /v1/verifications/{id}/check).

This module is the flow's home: the call (`say_code`, set up from a
verification by `run`): "your code is" and the digits slowly, twice, then
"press 1 to hear it again" (at most MAX_REPEATS times); its verdict is that
the code was delivered or not, and `farewell` says goodbye on a call still
up. What the customer is told goes by the /v1 events the registry sends for
every /v1 verification (engine/v1_events.py), so `notifications` adds none.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.caller_ids import shown_caller_id
from engine.flows.call import Call, CallEnded, DialPlan
from engine.flows.digits import collect_digits
from engine.locales import playback_language, sound, spoken_digits
from engine.notifications import Notification
from engine.outcome import CallOutcome
from engine.routes import dial_endpoint

if TYPE_CHECKING:
    from engine.settings import Settings
    from engine.store import Store
    from engine.verification import Verification

NAME = "voice"
LEGACY_NAME = "voice"  # no older name: its records have always carried this one

YOUR_CODE_IS = sound("your-code-is")
PRESS_1_TO_REPEAT = sound("voice/press-1-to-repeat")
GOODBYE = sound("voice/goodbye")
BETWEEN_TIMES = "sound:silence/1"
REPEAT_KEY = "1"
MAX_REPEATS = 3
REPEAT_WAIT = 5.0  # seconds after "press 1" for the key


@dataclass(frozen=True)
class VoicePolicy:
    code: str
    locale: str = ""
    max_repeats: int = MAX_REPEATS
    repeat_wait: float = REPEAT_WAIT

    @property
    def language(self) -> str | None:
        return playback_language(self.locale)


@dataclass
class VoiceResult:
    times_said: int = 0  # how often the whole code was said to the end
    repeats: int = 0  # of those, the ones asked for with the key


def code_once(code: str) -> list[str]:
    """'Your code is 1, 2, 3, 4': our own digits, with a pause between two."""
    return [YOUR_CODE_IS, *spoken_digits(code)]


def code_twice(code: str) -> list[str]:
    return [*code_once(code), BETWEEN_TIMES, *code_once(code)]


async def repeat_asked(call: Call, policy: VoicePolicy) -> bool:
    """Whether the person wants the code again: the key pressed while it was
    said, or during "press 1" and the few seconds after it. Any other key
    (or none) means no."""
    asked = REPEAT_KEY in call.digits
    call.digits.clear()
    if asked:
        return True
    await call.play([PRESS_1_TO_REPEAT], lang=policy.language)
    entry = await collect_digits(call, max_digits=1, first_timeout=policy.repeat_wait)
    return entry.digits == REPEAT_KEY


async def say_code(call: Call, dial: DialPlan, policy: VoicePolicy) -> VoiceResult:
    """Call; on answer say the code twice, then again each time it is asked for.

    The call is left up for `farewell`'s goodbye.
    """
    result = VoiceResult()
    if not await call.dial(dial):
        return result
    try:
        await call.play(code_twice(policy.code), interruptible=False, lang=policy.language)
        result.times_said = 2
        while result.repeats < policy.max_repeats and await repeat_asked(call, policy):
            result.repeats += 1
            await call.play(code_once(policy.code), interruptible=False, lang=policy.language)
            result.times_said += 1
    except CallEnded:
        pass
    return result


def voice_policy(verification: Verification) -> VoicePolicy:
    return VoicePolicy(code=verification.spoken_code, locale=verification.locale)


async def run(call: Call, verification: Verification, settings: Settings,
              store: Store) -> CallOutcome:
    """The call for one queued verification, up to its verdict."""
    if not verification.spoken_code.isdigit():
        raise ValueError(f"voice verification {verification.id} has no code to say")
    dial = DialPlan(
        endpoint=dial_endpoint(verification.e164, settings, store.phones),
        # Never an emergency or short number, even one stored before the rules.
        caller_id=shown_caller_id(verification.caller_id, settings.default_caller_id),
        ring_timeout=settings.ring_timeout, call_cap_seconds=settings.call_cap_seconds,
        app_args=f"{NAME},{verification.id}")
    await say_code(call, dial, voice_policy(verification))
    return CallOutcome.from_call(call.record, ring_timeout=settings.ring_timeout)


async def farewell(call: Call, verification: Verification, settings: Settings,
                   outcome: CallOutcome) -> None:
    """After the verdict, on a call still up: goodbye."""
    await call.play([GOODBYE], interruptible=False,
                    lang=playback_language(verification.locale))


def notifications(verification: Verification, outcome: CallOutcome) -> list[Notification]:
    """None of its own: a voice verification is a /v1 one, whose events the
    registry sends for every flow (engine/v1_events.py)."""
    return []
