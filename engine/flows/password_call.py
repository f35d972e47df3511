"""The `cli` flow (password call): the code is the end of our calling number;
if the person answers, we also say it, twice."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.flows.call import Call, CallEnded
from engine.flows.reverse_verify import DialPlan

YOUR_CODE_IS = "sound:callverify/your-code-is"
PAUSE = "sound:silence/1"
Progress = Callable[[str, bool], Awaitable[None]]


@dataclass
class PasswordCallResult:
    is_redirect: bool = False
    spoken: bool = False


def code_announcement(code: str, your_code_is: str = YOUR_CODE_IS) -> list[str]:
    """'Your code is 1 2 3 4', twice."""
    once = [your_code_is, f"digits:{code}"]
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
                        on_progress: Progress) -> PasswordCallResult:
    """Ring for the ring window from `<prefix><code>`; on answer say the code, hang up.

    Whether the call was forwarded is reported at each point where the
    evidence may have arrived: when the phone rings, when it answers, and when
    the call fails before an answer.
    """
    result = PasswordCallResult()

    async def ringing() -> None:
        await on_progress("ringing", await redirect_seen(call))

    answered = await call.place(endpoint=dial.endpoint, caller_id=dial.caller_id,
                                ring_timeout=dial.ring_timeout, app_args=dial.app_args,
                                variables=dial.variables(), on_ringing=ringing)
    if not answered:
        result.is_redirect = call.record.forwarded
        await on_progress("ended", result.is_redirect)
        return result
    try:
        result.is_redirect = await redirect_seen(call)
        await on_progress("answered", result.is_redirect)
        await call.play(code_announcement(code), interruptible=False)
        result.spoken = True
    except CallEnded:
        pass
    finally:
        await call.hang_up()
    return result
