"""A /v1 verification's call progress: stored on the record (so GET shows
"ringing" or "answered") with its verification.ringing or .answered event,
in one atomic step, whatever the flow.

The engine sets it as the `Call`'s progress hook for /v1 verifications only
(engine/worker.py), so the seed APIs' calls make no extra round trip. The
same step opens the check window of a voice or caller-ID verification (the
code is delivered from here on: engine/v1_expiry.py sweeps it), and tells
the engine whether the verification ended meanwhile (a cancel whose message
was lost: the engine hangs up then).
"""
from __future__ import annotations

import time
from dataclasses import replace

from engine.delivery import Deliverer
from engine.keys import CHECK_WINDOWS, DUE, WAKE, number_index, verification_key
from engine.scripts import lua_script
from engine.store import Store
from engine.v1_deliveries import DELIVER_LUA, EventDeliveries
from engine.verification import Verification

# KEYS: record, due, wake, number index, check windows.
# ARGV: id, stage, expires_at (0: no check window), ttl, deliveries.
# Returns {stored (1/0), the record's end ('' if none)}: nothing is stored on a
# record gone, ended, or no longer calling.
PROGRESS_LUA = DELIVER_LUA + """
local record, due, wake, number_index, windows = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, stage, expires, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('EXISTS', record) == 0 then return {0, ''} end
local held = redis.call('HMGET', record, 'status', 'final')
if (held[2] or '') ~= '' then return {0, held[2]} end
if held[1] ~= 'calling' then return {0, ''} end
redis.call('HSET', record, 'progress', stage)
if expires > 0 then redis.call('ZADD', windows, expires, id) end
queue(ARGV[5], due, wake, number_index, ttl)
return {1, ''}
"""


class Progress:
    def __init__(self, store: Store, max_checks: int, courier: Deliverer | None = None) -> None:
        self.store = store
        self.max_checks = max_checks
        self.courier = courier
        self._progress = lua_script(store.redis, PROGRESS_LUA)

    async def report(self, verification: Verification, stage: str) -> str:
        """Store `stage` (ringing, answered) and send its event; the
        verification's end if it already has one (then nothing is stored)."""
        now = time.time()
        progressed = replace(verification, status="calling", progress=stage, outcome=None)
        deliveries = EventDeliveries(progressed, f"verification.{stage}", now, self.max_checks,
                                     self.courier)
        stored, final = await self._progress(
            keys=[verification_key(verification.id), DUE, WAKE,
                  number_index(verification.e164), CHECK_WINDOWS],
            args=[verification.id, stage, f"{verification.expires_at:.3f}",
                  self.store.verifications.retention_seconds, deliveries.stored])
        final = final.decode() if isinstance(final, bytes) else final
        if stored:
            deliveries.sent()
        return final
