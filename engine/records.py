"""Finishing a verification: its outcome and its notifications, in one step."""
from __future__ import annotations

import time

from redis.exceptions import WatchError

from engine import delivery
from engine.flows import registry
from engine.outcome import CallOutcome
from engine.store import DONE_TTL_SECONDS, Store, verification_key


async def finish(store: Store, verification: dict[str, str], outcome: CallOutcome) -> bool:
    """Store the outcome and queue the flow's callback exactly once.

    Returns False when the verification was already finished (a second
    finisher, e.g. reconciliation racing the call itself, changes nothing).
    """
    key = verification_key(verification["id"])
    notifications = registry.notifications_for(verification, outcome)
    async with store.redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                if await pipe.hget(key, "status") == b"done":
                    return False
                pipe.multi()
                pipe.hset(key, mapping={**outcome.to_fields(), "status": "done",
                                        "finished_at": f"{time.time():.3f}"})
                pipe.expire(key, DONE_TTL_SECONDS)
                for note in notifications:
                    delivery.enqueue(pipe, note.method, note.url, params=note.params,
                                     payload=note.payload, kind=note.kind)
                await pipe.execute()
                return True
            except WatchError:
                continue
