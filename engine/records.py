"""Finishing a verification: its outcome and its notifications, in one step."""
from __future__ import annotations

import time

from engine.delivery import Deliverer, new_delivery
from engine.flows.registry import notifications_for
from engine.outcome import CallOutcome
from engine.store import Store

END_OF_CALL = ("outcome_ended_at", "outcome_cause", "outcome_cause_txt",
               "outcome_sip_status", "outcome_hung_up_by")


async def finish(store: Store, verification: dict[str, str], outcome: CallOutcome, *,
                 job_id: str = "", courier: Deliverer | None = None,
                 notify: bool = True) -> bool:
    """Store the outcome and queue the flow's callback exactly once (one round trip).

    Returns True when this call finished the verification, False when it was
    finished already (then only the end-of-call fields are completed). With a
    `job_id` the call queue's job is acknowledged in the same round trip. With
    a running `courier` (this process's deliverer) the callback is handed to it
    instead of being queued for whichever worker wakes first. `notify=False`
    when the caller knows the verdict is stored: the callback is not built.
    """
    fields = {**outcome.to_fields(), "status": "done", "progress": "ended",
              "finished_at": f"{time.time():.3f}"}
    leased = courier is not None and courier.taking
    wanted = notifications_for(verification, outcome) if notify else []
    deliveries = [new_delivery(n.method, n.url, params=n.params, payload=n.payload, kind=n.kind,
                               leased=leased) for n in wanted]
    done = await store.finish_verification(verification["id"], fields,
                                           {k: fields[k] for k in END_OF_CALL}, deliveries,
                                           job_id=job_id)
    if done and leased and deliveries:
        courier.hand_over(deliveries)
    return done


class Finisher:
    """`finish` for one engine process: its store and its own deliverer, if any.

    A verdict finished before the call's end (no `job_id` yet) is remembered
    until the call's own finish, which then only completes the end-of-call
    fields and acknowledges the job, without building the callback again.
    """

    def __init__(self, store: Store, courier: Deliverer | None = None) -> None:
        self.store = store
        self.courier = courier
        self._verdicts: set[str] = set()

    async def __call__(self, verification: dict[str, str], outcome: CallOutcome, *,
                       job_id: str = "") -> bool:
        vid = verification["id"]
        stored = vid in self._verdicts
        if job_id:
            self._verdicts.discard(vid)
        done = await finish(self.store, verification, outcome, job_id=job_id,
                            courier=self.courier, notify=not stored)
        if done and not job_id:
            self._verdicts.add(vid)
        return done
