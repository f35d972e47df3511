"""Which coroutine runs each flow, with its settings taken from the verification."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from engine.flows.call import Call
from engine.flows.reverse_verify import DialPlan, KeypadPolicy, KeypadResult, reverse_verify
from engine.flows.password_call import password_call
from engine.outcome import CallOutcome
from engine.records import Finisher
from engine.settings import Settings
from engine.store import Store

# A flow gets its call, the verification, the settings, the store, and the
# engine's `finish` for a verdict known before the call ends (the engine
# finishes every verification again when its call is over).
Flow = Callable[[Call, dict, Settings, Store, Finisher], Awaitable[CallOutcome]]


def dial_plan(verification: dict[str, str], settings: Settings, caller_id: str,
              ring_timeout: float) -> DialPlan:
    return DialPlan(endpoint=f"PJSIP/{verification['e164']}@{settings.trunk_endpoint}",
                    caller_id=caller_id, ring_timeout=ring_timeout,
                    call_cap_seconds=settings.call_cap_seconds,
                    app_args=f"{verification['flow']},{verification['id']}")


async def run_dtmf(call: Call, verification: dict, settings: Settings, store: Store,
                   finish: Finisher) -> CallOutcome:
    policy = KeypadPolicy(code_len=int(verification["code_len"]),
                          max_attempts=settings.max_attempts,
                          first_digit_timeout=settings.first_digit_timeout,
                          inter_digit_timeout=settings.inter_digit_timeout,
                          prompts={**KeypadPolicy(1).prompts, **settings.prompts})

    async def code_matches(entered: str) -> bool:
        return await store.code_matches(verification["id"], verification["code_hmac"], entered)

    def outcome(result: KeypadResult) -> CallOutcome:
        return CallOutcome.from_call(call.record, ring_timeout=settings.ring_timeout,
                                     attempts=result.attempts, digits_count=result.digits_count,
                                     matched=result.matched, last_digit_at=result.last_digit_at)

    async def on_verdict(result: KeypadResult) -> None:
        await finish(verification, outcome(result))

    caller_id = verification.get("caller_id") or settings.default_caller_id
    dial = dial_plan(verification, settings, caller_id, settings.ring_timeout)
    result = await reverse_verify(call, dial, policy, code_matches, on_verdict)
    return outcome(result)


async def run_cli(call: Call, verification: dict, settings: Settings, store: Store,
                  finish: Finisher) -> CallOutcome:
    vid = verification["id"]
    waited_for = verification.get("is_with_redirect") == "1"  # the API's answer waits

    async def on_progress(stage: str, is_redirect: bool) -> None:
        await store.report_progress(vid, stage, is_redirect, notify=waited_for)

    ring = float(verification.get("ring_seconds") or settings.password_ring_seconds)
    dial = dial_plan(verification, settings, verification["caller_number"], ring)
    result = await password_call(call, dial, verification["spoken_code"], on_progress)
    return CallOutcome.from_call(call.record, ring_timeout=ring, is_redirect=result.is_redirect)


FLOWS: dict[str, Flow] = {"dtmf": run_dtmf, "cli": run_cli}


def flow_for(name: str) -> Flow:
    return FLOWS[name]
