"""The two steps at the end of a verification.

The verdict: its outcome stored, its callback or webhook handed over and its
call-queue job acknowledged, in one atomic step; a verification has one
verdict (a second one, e.g. from another engine that found the call lost,
changes nothing). The close of the call: when the call was still up at the
verdict, the time it ended and its cause, once it has.
"""
from __future__ import annotations

import time

from engine.delivery import Deliverer
from engine.delivery_record import new_delivery
from engine.flows.call import CallRecord
from engine.keys import delivery_key
from engine.metrics import note_verdict
from engine.outcome import CallOutcome
from engine.registry import notifications_for
from engine.store import Store
from engine.verification import Verification


async def give_verdict(store: Store, verification: Verification, outcome: CallOutcome, *,
                       job_id: str = "", courier: Deliverer | None = None,
                       refund: bool = False) -> bool:
    """Store the verdict and queue the flow's callback (one round trip).

    Returns True when this step gave the verdict, False when the verification
    had one already. With a `job_id` the call queue's job is acknowledged in
    the same step. With a running `courier` (this process's deliverer) the
    callback is handed to it instead of being queued for whichever worker
    wakes first. With `refund` (a job not dialled) the verdict is given only
    while the verification is queued, and its price is refunded with it.
    """
    fields = {**outcome.to_fields(), "status": "done", "progress": "ended",
              "finished_at": f"{time.time():.3f}"}
    leased = courier is not None and courier.taking
    deliveries = [new_delivery(n.method, n.url, params=n.params, payload=n.payload, kind=n.kind,
                               leased=leased, account_id=verification.account_id)
                  for n in notifications_for(verification, outcome)]
    given = await store.verifications.store_verdict(
        verification.id, fields, [stored_form(d) for d in deliveries], job_id=job_id,
        e164=verification.e164, refund=refund)
    if given and leased and deliveries and courier is not None:  # (leased: there is one)
        courier.hand_over(deliveries)
    if given:
        note_verdict(verification, outcome)
    return given


def stored_form(delivery: dict) -> dict:
    """A new delivery as the verdict script stores it: its key and field pairs."""
    return {"id": delivery["id"], "key": delivery_key(delivery["id"]), "due": delivery["due"],
            "wake": delivery["wake"],
            "pairs": [part for pair in delivery["fields"].items() for part in pair]}


async def close_call(store: Store, verification_id: str, record: CallRecord) -> None:
    """The end of a call that outlived its verdict: when, why, who hung up."""
    await store.verifications.store_close(verification_id, {
        "outcome_ended_at": str(record.ended_at), "outcome_cause": str(record.cause),
        "outcome_cause_txt": record.cause_txt, "outcome_sip_status": str(record.sip_status),
        "outcome_hung_up_by": record.hung_up_by})
