"""Finishing a verification: its outcome and its notifications, in one step."""
from __future__ import annotations

import time

from redis.exceptions import WatchError

from engine import delivery
from engine import notifications
from engine.outcome import CallOutcome
from engine.store import DONE_TTL_SECONDS, Store, verification_key


async def finish(store: Store, verification: dict[str, str], outcome: CallOutcome) -> bool:
    """Store the outcome and queue the flow's callback exactly once.

    A verification already finished keeps its verdict: a later call (e.g.
    once the closing prompt has played) only completes the outcome's fields.
    Returns True when this call finished it.
    """
    key = verification_key(verification["id"])
    notes = notifications.notifications_for(verification, outcome)
    async with store.redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                if await pipe.hget(key, "status") == b"done":
                    pipe.multi()
                    pipe.hset(key, mapping=_completion(outcome))
                    await pipe.execute()
                    return False
                pipe.multi()
                pipe.hset(key, mapping={**outcome.to_fields(), "status": "done", "progress": "ended",
                                        "finished_at": f"{time.time():.3f}"})
                pipe.expire(key, DONE_TTL_SECONDS)
                for note in notes:
                    delivery.enqueue(pipe, note.method, note.url, params=note.params,
                                     payload=note.payload, kind=note.kind)
                await pipe.execute()
                return True
            except WatchError:
                continue


def _completion(outcome: CallOutcome) -> dict[str, str]:
    """The fields that only the end of the call knows (never the verdict)."""
    fields = outcome.to_fields()
    return {k: fields[k] for k in ("outcome_ended_at", "outcome_cause", "outcome_cause_txt",
                                   "outcome_sip_status", "outcome_hung_up_by")}
