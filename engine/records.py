"""Finishing a verification: its outcome and its notifications, in one step."""
from __future__ import annotations

import time

from engine import notifications
from engine.delivery import new_delivery
from engine.outcome import CallOutcome
from engine.store import Store

END_OF_CALL = ("outcome_ended_at", "outcome_cause", "outcome_cause_txt",
               "outcome_sip_status", "outcome_hung_up_by")


async def finish(store: Store, verification: dict[str, str], outcome: CallOutcome) -> bool:
    """Store the outcome and queue the flow's callback exactly once (one round trip).

    Returns True when this call finished the verification, False when it was
    finished already (then only the end-of-call fields are completed).
    """
    fields = {**outcome.to_fields(), "status": "done", "progress": "ended",
              "finished_at": f"{time.time():.3f}"}
    deliveries = [new_delivery(n.method, n.url, params=n.params, payload=n.payload, kind=n.kind)
                  for n in notifications.notifications_for(verification, outcome)]
    return await store.finish_verification(verification["id"], fields,
                                           {k: fields[k] for k in END_OF_CALL}, deliveries)
