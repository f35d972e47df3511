"""Canceling a /v1 verification (POST .../cancel), and the engine's side of it.

Queued: the verdict of a job not dialled, with failure `canceled` and its
price refunded (engine/records.give_verdict, which sends verification.canceled).
Its call placed (up, or over with the code awaiting checks): one atomic step
sets the end itself (final=canceled) and queues verification.canceled, and,
while the call is up, names the verification on CANCEL_CHANNEL; the engine
whose call it is hangs up. The end is on the record whether or not that
message arrives: the engine also finds it at the call's next progress
(engine/v1_progress.py) and whenever its subscription is made again
(`follow_cancels`), and the call's own verdict never changes an end already
set, nor sends its events (VERDICT_LUA). Canceling a canceled verification
changes nothing and sends nothing.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from redis.asyncio import Redis

from engine.keys import CANCEL_CHANNEL, CHECK_WINDOWS, DUE, WAKE, number_index, verification_key
from engine.outcome import CANCELED, CallOutcome
from engine.records import give_verdict
from engine.scripts import lua_script
from engine.store import Store
from engine.subscriptions import follow_channel
from engine.v1_deliveries import DELIVER_LUA, EventDeliveries
from engine.v1_status import ENDED, status_of
from engine.verification import Verification

log = logging.getLogger(__name__)

# Results of `cancel`
CANCELED_NOW, CANCELED_BEFORE, ENDED_ALREADY, GONE = "canceled", "canceled_before", "ended", "gone"
TRIES = 5

# KEYS: record, due, wake, number index, check windows, cancel channel.
# ARGV: id, now, ttl, status read, deliveries.
CANCEL_LUA = DELIVER_LUA + """
local record, due, wake, number_index, windows = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, now, ttl = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', record) == 0 then return 'gone' end
local held = redis.call('HMGET', record, 'status', 'final', 'expires_at')
if held[2] == 'canceled' then return 'canceled_before' end
if (held[2] or '') ~= '' then return 'ended' end
if (held[1] or '') ~= ARGV[4] or held[1] == 'queued' then return 'stale' end
local expires = tonumber(held[3] or '') or 0
if held[1] == 'done' and expires > 0 and tonumber(now) > expires then return 'ended' end
redis.call('HSET', record, 'final', 'canceled', 'final_reason', 'canceled', 'final_at', now)
redis.call('ZREM', windows, id)
queue(ARGV[5], due, wake, number_index, ttl)
if held[1] == 'calling' then redis.call('PUBLISH', KEYS[6], id) end
return 'canceled'
"""


class Cancels:
    def __init__(self, store: Store, max_checks: int) -> None:
        self.store = store
        self.max_checks = max_checks
        self._cancel = lua_script(store.redis, CANCEL_LUA)

    async def cancel(self, verification: Verification) -> tuple[str, Verification]:
        """CANCELED_NOW, CANCELED_BEFORE, ENDED_ALREADY (verified, failed or
        expired) or GONE, and the record as the answer shows it."""
        vid = verification.id
        for _ in range(TRIES):
            now = time.time()
            status = status_of(verification, now)[0]
            if status == CANCELED:
                return CANCELED_BEFORE, verification
            if status in ENDED:
                return ENDED_ALREADY, verification
            if verification.status == "queued":
                refunded = replace(verification, refunded=verification.price)
                if await give_verdict(self.store, refunded, CallOutcome(failure=CANCELED),
                                      refund=True):
                    found = await self.store.verifications.get(vid)
                    return CANCELED_NOW, found or refunded
            else:
                canceled = replace(verification, final=CANCELED, final_reason=CANCELED,
                                   final_at=now)
                result = await self._cancel(
                    keys=[verification_key(vid), DUE, WAKE, number_index(verification.e164),
                          CHECK_WINDOWS, CANCEL_CHANNEL],
                    args=[vid, f"{now:.3f}", self.store.verifications.retention_seconds,
                          verification.status,
                          EventDeliveries(canceled, "verification.canceled", now,
                                          self.max_checks).stored])
                result = result.decode() if isinstance(result, bytes) else result
                if result == CANCELED_NOW:
                    return CANCELED_NOW, canceled
            found = await self.store.verifications.get(vid)
            if found is None:
                return GONE, verification
            verification = found
        return ENDED_ALREADY, verification  # changed under every try: judged ended


async def follow_cancels(redis: Redis, hang_up: Callable[[str], Awaitable[None]],
                         look_again: Callable[[], Awaitable[None]],
                         done: asyncio.Event) -> None:
    """Until `done`: `hang_up(verification_id)` for each cancel announced, and
    `look_again()` each time the subscription holds (a cancel announced while
    it was down is then found on the record)."""
    await follow_channel(redis, CANCEL_CHANNEL, done, on_subscribe=look_again,
                         on_message=hang_up, what="cancel")
