"""The `dtmf` flow (reverse verify): the person keys in the code the site showed."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from engine.flows.call import Call, CallEnded
from engine.flows.digits import collect_digits

DEFAULT_PROMPTS = {
    "enter_code": ["sound:callverify/enter-code"],
    "incorrect": ["sound:callverify/incorrect"],
    "verified": ["sound:callverify/verified"],
    "goodbye": ["sound:callverify/goodbye"],
}


@dataclass(frozen=True)
class DialPlan:
    """How to reach a number and how long to let it ring or talk."""

    endpoint: str
    caller_id: str
    ring_timeout: float
    call_cap_seconds: int
    app_args: str = ""

    def variables(self) -> dict:
        # Asterisk hangs up by itself at the cap, so no call outlives a dead engine.
        return {"TIMEOUT(absolute)": str(self.call_cap_seconds)}


@dataclass(frozen=True)
class KeypadPolicy:
    code_len: int
    max_attempts: int = 3
    first_digit_timeout: float = 10.0
    inter_digit_timeout: float = 5.0
    prompts: dict = field(default_factory=lambda: dict(DEFAULT_PROMPTS))


@dataclass
class KeypadResult:
    attempts: int = 0
    digits_count: int = 0
    matched: bool = False
    last_digit_at: float = 0.0


async def reverse_verify(call: Call, dial: DialPlan, policy: KeypadPolicy,
                         code_matches: Callable[[str], Awaitable[bool]],
                         on_verdict: Callable[[KeypadResult], Awaitable[None]] | None = None,
                         ) -> KeypadResult:
    """Call, ask for the code, give up to `max_attempts` tries, hang up.

    `on_verdict` runs as soon as the result is known, before the closing
    prompt, so the customer hears about it without waiting for the goodbye.
    """
    result = KeypadResult()
    answered = await call.place(endpoint=dial.endpoint, caller_id=dial.caller_id,
                                ring_timeout=dial.ring_timeout, app_args=dial.app_args,
                                variables=dial.variables())
    if not answered:
        return result
    prompts = policy.prompts
    try:
        await call.play(prompts["enter_code"])
        while result.attempts < policy.max_attempts and not result.matched:
            result.attempts += 1
            entry = await collect_digits(call, max_digits=policy.code_len,
                                         first_timeout=policy.first_digit_timeout,
                                         inter_timeout=policy.inter_digit_timeout)
            result.digits_count = len(entry.digits)
            result.last_digit_at = entry.last_digit_at or result.last_digit_at
            result.matched = bool(entry.digits) and await code_matches(entry.digits)
            if not result.matched and result.attempts < policy.max_attempts:
                await call.play(prompts["incorrect"])
        if on_verdict is not None:
            await on_verdict(result)
        await call.play(prompts["verified"] if result.matched else prompts["goodbye"],
                        interruptible=False)
    except CallEnded:
        pass
    finally:
        await call.hang_up()
    return result
