"""The expiry of a /v1 voice or caller-ID verification whose code was
delivered and that nobody verified, failed or canceled by its `expires_at`:
the engine's sweep sets final=expired once and sends verification.expired.

The windows to watch are a sorted set (CHECK_WINDOWS: id by expires_at)
that the call's progress step fills (engine/v1_progress.py) and a check,
cancel or this sweep empties. GET shows "expired" from the time alone
(engine/v1_status.py); the sweep makes it final and tells the client. Every
engine sweeps; the step that sets the end runs once per verification.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import cast

from engine.keys import CHECK_WINDOWS, DUE, WAKE, number_index, verification_key
from engine.outcome import EXPIRED
from engine.scripts import lua_script
from engine.store import Store
from engine.v1_deliveries import DELIVER_LUA, EventDeliveries
from engine.v1_status import ENDED, status_of
from engine.verification import Verification

log = logging.getLogger(__name__)
SWEEP_SECONDS = 1.0
BATCH = 100

# KEYS: record, due, wake, number index, check windows. ARGV: id, final_at, ttl,
# deliveries. Returns 1 if this step ended the verification.
EXPIRE_LUA = DELIVER_LUA + """
local record, due, wake, number_index, windows = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, final_at, ttl = ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('HMGET', record, 'status', 'final')
if held[1] ~= 'done' or (held[2] or '') ~= '' then return 0 end
redis.call('HSET', record, 'final', 'expired', 'final_reason', 'expired', 'final_at', final_at)
redis.call('ZREM', windows, id)
queue(ARGV[4], due, wake, number_index, ttl)
return 1
"""


def window_closed(verification: Verification | None, now: float) -> bool:
    """Whether a window that does not expire now needs no more watching: the
    record gone, or ended otherwise (a call still up is watched until it ends)."""
    return (verification is None or bool(verification.final)
            or status_of(verification, now)[0] in ENDED)


def expires_now(verification: Verification, now: float) -> bool:
    """A delivered code's window ran out with no end set (pure). A call that
    outlived the window was judged expired at its verdict, which sent the
    event then (engine/v1_events.notifications)."""
    return (not verification.final and verification.status == "done"
            and verification.finished_at <= verification.expires_at
            and status_of(verification, now) == (EXPIRED, EXPIRED))


class ExpirySweep:
    def __init__(self, store: Store, max_checks: int) -> None:
        self.store = store
        self.max_checks = max_checks
        self._expire = lua_script(store.redis, EXPIRE_LUA)

    async def sweep(self, now: float | None = None) -> int:
        """End the verifications whose window ran out by `now`; how many this sweep ended."""
        now = time.time() if now is None else now
        redis = self.store.redis
        due = cast("list[bytes]", await redis.zrangebyscore(CHECK_WINDOWS, "-inf", now,
                                                            start=0, num=BATCH))
        ended = 0
        for raw in due:
            vid = raw.decode()
            verification = await self.store.verifications.get(vid)
            if verification is not None and expires_now(verification, now):
                expired = replace(verification, final=EXPIRED, final_reason=EXPIRED,
                                  final_at=verification.expires_at)
                events = EventDeliveries(expired, "verification.expired", now, self.max_checks)
                ended += await self._expire(
                    keys=[verification_key(vid), DUE, WAKE, number_index(verification.e164),
                          CHECK_WINDOWS],
                    args=[vid, f"{verification.expires_at:.3f}",
                          self.store.verifications.retention_seconds, events.stored])
            elif window_closed(verification, now):
                await redis.zrem(CHECK_WINDOWS, vid)
        return ended

    async def run(self, done: asyncio.Event) -> None:
        """Sweep every SWEEP_SECONDS until `done`."""
        while not done.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # Redis away: the next sweep tries again
                log.warning("expiry sweep failed (%s)", type(exc).__name__)
            try:
                await asyncio.wait_for(done.wait(), SWEEP_SECONDS)
            except TimeoutError:
                pass
