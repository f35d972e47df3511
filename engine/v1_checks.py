"""Checks of a /v1 voice or caller-ID verification's code (POST .../check).

The code is compared with the record's HMAC in constant time first; then one
atomic step counts the check, only while the verification has not ended and
has checks left, and on the deciding check sets its end (verified, or failed
with wrong_code on the last allowed wrong one) and queues its event. The step
runs only on the record as it was read (its status and checks); a record
changed meanwhile (another check, the call's verdict) is read again and
judged again, so the event carries the record as it now is.
"""
from __future__ import annotations

import time
from dataclasses import replace

from engine.keys import CHECK_WINDOWS, DUE, WAKE, number_index, verification_key
from engine.scripts import lua_script
from engine.store import Store
from engine.v1_deliveries import DELIVER_LUA, EventDeliveries
from engine.v1_status import CHECKED, ENDED, FAILED, VERIFIED, status_of
from engine.verification import Verification

# Results of `check_code`
MATCHED, WRONG = "verified", "wrong"  # (WRONG: checks are left)
FAILED_NOW = "failed"  # this wrong check was the last allowed one
NOT_CHECKED = "not_checked"  # a keypad verification: its code is keyed on the call
ENDED_ALREADY = "ended"
GONE = "gone"
STALE = "stale"
TRIES = 5
WRONG_CODE = "wrong_code"

# KEYS: record, due, wake, number index, check windows.
# ARGV: id, matched (1/0), max checks, now, ttl, status read, checks read,
# deliveries of the end this check decides ('[]' if it decides none).
CHECK_LUA = DELIVER_LUA + """
local record, due, wake, number_index, windows = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, matched, max_checks, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if redis.call('EXISTS', record) == 0 then return 'gone' end
local held = redis.call('HMGET', record, 'status', 'checks', 'final', 'expires_at')
local checks = tonumber(held[2] or '') or 0
if (held[3] or '') ~= '' or checks >= max_checks then return 'ended' end
local expires = tonumber(held[4] or '') or 0
if held[1] == 'done' and expires > 0 and tonumber(now) > expires then return 'ended' end
if (held[1] or '') ~= ARGV[6] or checks ~= tonumber(ARGV[7]) then return 'stale' end
checks = checks + 1
redis.call('HSET', record, 'checks', checks)
local result = 'wrong'
if matched == '1' then
  redis.call('HSET', record, 'final', 'verified', 'final_at', now)
  result = 'verified'
elseif checks >= max_checks then
  redis.call('HSET', record, 'final', 'failed', 'final_reason', 'wrong_code', 'final_at', now)
  result = 'failed'
end
if result ~= 'wrong' then
  redis.call('ZREM', windows, id)
  queue(ARGV[8], due, wake, number_index, ttl)
end
return result
"""


def after_check(verification: Verification, matched: bool, max_checks: int,
                now: float) -> Verification:
    """The record after one check (pure): counted, and ended if it decides."""
    checked = replace(verification, checks=verification.checks + 1)
    if matched:
        return replace(checked, final=VERIFIED, final_reason="", final_at=now)
    if checked.checks >= max_checks:
        return replace(checked, final=FAILED, final_reason=WRONG_CODE, final_at=now)
    return checked


class Checks:
    def __init__(self, store: Store, max_checks: int) -> None:
        self.store = store
        self.max_checks = max_checks
        self._check = lua_script(store.redis, CHECK_LUA)

    async def check_code(self, verification: Verification,
                         code: str) -> tuple[str, Verification]:
        """The check's result (MATCHED, WRONG, FAILED_NOW; or NOT_CHECKED,
        ENDED_ALREADY, GONE when it was not counted) and the record after it."""
        for _ in range(TRIES):
            now = time.time()
            if verification.channel not in CHECKED:
                return NOT_CHECKED, verification
            if status_of(verification, now)[0] in ENDED:
                return ENDED_ALREADY, verification
            matched = bool(verification.code_hmac) and await self.store.verifications.code_matches(
                verification.id, verification.code_hmac, code)
            checked = after_check(verification, matched, self.max_checks, now)
            stored = (EventDeliveries(checked, f"verification.{checked.final}", now,
                                      self.max_checks).stored if checked.final else "[]")
            result = await self._check(
                keys=[verification_key(verification.id), DUE, WAKE,
                      number_index(verification.e164), CHECK_WINDOWS],
                args=[verification.id, int(matched), self.max_checks, f"{now:.3f}",
                      self.store.verifications.retention_seconds, verification.status,
                      verification.checks, stored])
            result = result.decode() if isinstance(result, bytes) else result
            if result in (MATCHED, WRONG, FAILED_NOW):
                return result, checked
            found = await self.store.verifications.get(verification.id)
            if found is None:
                return GONE, verification
            verification = found
        return ENDED_ALREADY, verification  # changed under every try: judged ended
