"""The events a /v1 verification sends: `verification.<status>` POSTed as
JSON to the account's `verification` webhook and to the request's
`callback_url`, each signed by the deliverer like every delivery.

`notifications` is the flow registry's hook at the call's verdict
(engine/registry.py sends every /v1 verification here, whatever its flow);
`events` serves the other moments (the call ringing or answered, a check,
an expiry, a cancel).
"""
from __future__ import annotations

import time
from dataclasses import replace

from engine.notifications import Notification
from engine.outcome import CallOutcome
from engine.v1_status import ENDED, iso, status_of, view
from engine.verification import Verification

KIND = "verification_event"
EVENT = "verification"  # the account's webhook subscription (`callverify webhook set --event`)
TYPES = tuple(f"verification.{status}" for status in ("ringing", "answered", "verified",
                                                      "failed", "expired", "canceled"))


def events(verification: Verification, event_type: str, now: float | None = None,
           max_checks: int = 5) -> list[Notification]:
    """`event_type` (one of TYPES) for each target the verification has."""
    now = time.time() if now is None else now
    payload = {"type": event_type, "created_at": iso(now),
               "data": view(verification, now, max_checks)}
    targets = dict.fromkeys(url for url in (verification.webhook_url,
                                            verification.callback_url) if url)
    return [Notification(KIND, "POST", url, payload=payload) for url in targets]


def notifications(verification: Verification, outcome: CallOutcome) -> list[Notification]:
    """At the call's verdict: the event it decided, if it decided the end
    (a code delivered on a voice or caller-ID call waits for the checks)."""
    ended = replace(verification, outcome=outcome, status="done")
    now = time.time()
    status, _ = status_of(ended, now)
    if status not in ENDED:
        return []
    return events(ended, f"verification.{status}", now)
