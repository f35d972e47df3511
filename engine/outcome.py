"""The outcome of a verification call (each flow maps it to its API's words)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from engine.flows.call import CallRecord

# Q.850 causes (as Asterisk reports them).
NORMAL_CLEARING = 16
USER_BUSY = 17
NO_USER_RESPONSE = 18
NO_ANSWER = 19
# A softphone's number with no device registered (asterisk/config/extensions.conf
# [callverify-phones]), as an unreachable phone: "subscriber absent".
SUBSCRIBER_ABSENT = 20
CALL_REJECTED = 21
CONGESTION_CAUSES = {34, 38, 41, 42, 44}
REDIRECTED = 23  # "redirected to new destination": a 3xx

# Failures that are ours, not the network's.
ORIGINATE_FAILED = "originate_failed"
ENGINE_LOST = "engine_lost"
BILLING = "billing"
# A queued job the engine did not dial: accepted longer ago than
# max_queue_seconds, or its account disabled since. Its price is refunded.
EXPIRED = "expired"
ACCOUNT_DISABLED = "account_disabled"
NOT_DIALLED = (EXPIRED, ACCOUNT_DISABLED)
# A /v1 verification its client canceled (POST /v1/verifications/{id}/cancel).
CANCELED = "canceled"
TEMPORARY_FAILURE = 41
RESOURCE_UNAVAILABLE = 47
RING_TIMEOUT = "ring_timeout"


@dataclass
class CallOutcome:
    """What happened on one verification call; stored on the verification."""

    answered: bool = False
    cause: int = 0
    cause_txt: str = ""
    sip_status: int = 0
    failure: str = ""
    placed_at: float = 0.0
    ringing_at: float = 0.0
    answered_at: float = 0.0
    ended_at: float = 0.0
    hung_up_by: str = ""
    attempts: int = 0
    digits_count: int = 0
    matched: bool = False
    last_digit_at: float = 0.0
    is_redirect: bool = False

    @classmethod
    def from_call(cls, record: CallRecord, *, ring_timeout: float, **flow_result) -> CallOutcome:
        failure = "originate_failed" if record.originate_error else ""
        rang_out = (record.placed_at and record.ended_at
                    and record.ended_at - record.placed_at >= ring_timeout - 0.5)
        if not record.answered and not failure and (
                record.cause in (NO_USER_RESPONSE, NO_ANSWER) or (rang_out and record.cause in (0, NORMAL_CLEARING))):
            failure = RING_TIMEOUT
        # On a ring timeout Asterisk cancels the call and reports a 480 it made
        # up itself; the phone never sent it, so it is not shown as the phone's.
        sip_status = 0 if failure == RING_TIMEOUT else record.sip_status
        cause, cause_txt = record.cause, record.cause_txt
        if not cause and record.forwarded_to and not record.answered:
            # Asterisk ends a call it was told to move (3xx) without a cause
            # now and then; the Dial event that named the new target is the proof.
            cause, cause_txt = REDIRECTED, "Redirected to new destination"
        return cls(answered=record.answered, cause=cause, cause_txt=cause_txt,
                   sip_status=sip_status,
                   failure=failure, placed_at=record.placed_at, ringing_at=record.ringing_at,
                   answered_at=record.answered_at, ended_at=record.ended_at,
                   hung_up_by=record.hung_up_by, **flow_result)

    def to_fields(self) -> dict[str, str]:
        # vars, not asdict: every field is a scalar, and asdict deep-copies each.
        return {f"outcome_{k}": str(int(v) if isinstance(v, bool) else v)
                for k, v in vars(self).items()}

    @classmethod
    def from_fields(cls, record: dict[str, str]) -> CallOutcome:
        values: dict = {}
        for f in fields(cls):
            raw = record.get(f"outcome_{f.name}")
            if raw is None:
                continue
            if f.type in ("bool", bool):
                values[f.name] = raw == "1"
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        return cls(**values)
