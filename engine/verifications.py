"""Verifications in Redis: accepted (charged, flood-marked, stored and queued
in one step), taken by an engine, their progress, their verdict and the close
of their call. Records are `Verification`s; key names come from engine.keys.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, cast

from redis.asyncio import Redis

from engine.accept_step import (
    ACCEPT_LUA,
    ACCEPTED,
    PREFIX_ALARM,
    PREFIX_BLOCKED,
)
from engine.client_limits import NO_BUCKETS, Buckets
from engine.keys import (
    ACCOUNT_PREFIX,
    BLOCKED_PREFIXES,
    CALLER_IDS_PREFIX,
    CALLS_GROUP,
    CALLS_STREAM,
    CODE_KEY,
    DNC,
    DUE,
    FLOOD_PREFIX,
    PROGRESS_CHANNEL,
    WAKE,
    account_key,
    api_key_index,
    daily_calls_key,
    prefix_calls_key,
    verification_key,
)
from engine.prefixes import destination_prefix
from engine.scripts import lua_script
from engine.verification import Verification

if TYPE_CHECKING:
    from collections.abc import Mapping

    from redis.typing import EncodableT, FieldT

    # A hash's fields as redis-py's hset takes them; a dict[str, str] is not
    # one to mypy (the key type of Mapping is invariant), hence the casts.
    Hash = Mapping[FieldT, EncodableT]

log = logging.getLogger(__name__)

DONE_TTL_SECONDS = 7 * 24 * 3600

# The verdict is written once, with its deliveries (each names its own key; a
# delivery this process sends itself comes leased: due at the lease's end, no
# wake-up). With a job id the call queue's job is acknowledged and removed in
# the same step, whether or not the verdict was already there.
VERDICT_LUA = """
local ttl, fields, deliveries, job_id, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local verification, due, wake, calls = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if job_id ~= '' then
  redis.call('XACK', calls, group, job_id)
  redis.call('XDEL', calls, job_id)
end
if redis.call('HGET', verification, 'status') == 'done' then return 0 end
local function hset_all(key, pairs_json)
  local flat = cjson.decode(pairs_json)
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
hset_all(verification, fields)
redis.call('EXPIRE', verification, ttl)
for _, d in ipairs(cjson.decode(deliveries)) do
  redis.call('HSET', d.key, unpack(d.pairs))
  redis.call('ZADD', due, d.due, d.id)
  if d.wake then redis.call('RPUSH', wake, d.id) end
end
redis.call('LTRIM', wake, -1000, -1)
return 1
"""

# The engine takes a queued verification: its fields as they were, and (when it
# was queued) it is marked calling on the channel, in one round trip.
TAKE_LUA = """
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] == 'status' then
    if fields[i + 1] == 'queued' then
      redis.call('HSET', KEYS[1], 'status', 'calling', 'channel_id', ARGV[1])
    end
    break
  end
end
return fields
"""


def _flat(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]


class Verifications:
    def __init__(self, redis: Redis, code_key: str = "") -> None:
        self.redis = redis
        self._code_key = code_key.encode() if code_key else b""
        self._accept = lua_script(redis, ACCEPT_LUA)
        self._verdict = lua_script(redis, VERDICT_LUA)
        self._take = lua_script(redis, TAKE_LUA)

    # -- the code, kept only as an HMAC bound to the verification ----------
    async def code_hmac(self, verification_id: str, code: str) -> str:
        if not self._code_key:
            await self.redis.set(CODE_KEY, secrets.token_hex(32), nx=True)
            # Set just above if it was not there; replies are bytes.
            self._code_key = cast(bytes, await self.redis.get(CODE_KEY))
        return self._hmac(verification_id, code)

    def _hmac(self, verification_id: str, code: str) -> str:
        return hmac.new(self._code_key, f"{verification_id}:{code}".encode(),
                        hashlib.sha256).hexdigest()

    async def code_matches(self, verification_id: str, code_hmac: str, entered: str) -> bool:
        return hmac.compare_digest(await self.code_hmac(verification_id, entered), code_hmac)

    # -- accepting ----------------------------------------------------------
    async def accept(self, account_id: str, e164: str, verification: Verification, *,
                     price: int, flood_seconds: int, code: str | None = None,
                     alarm_per_minute: int = 0, daily_cap: int = 0) -> tuple[str, str]:
        """Charge, flood-mark, store and queue one verification atomically.

        A `code` is stored only as its HMAC. Returns (result, verification id):
        prefix_blocked, do_not_call, flood, daily_cap, no_credit, spend_limit
        or accepted; the id is "" unless accepted. `alarm_per_minute` 0: no
        velocity alarm; `daily_cap` 0: no cap on a number's calls a day.
        """
        result, verification_id, _, _ = await self._accept_step(
            account_key(account_id), account_id, e164, verification, code, price=price,
            flood_seconds=flood_seconds, lookup=False, refusal="", caller_id="",
            alarm=alarm_per_minute, daily_cap=daily_cap, buckets=NO_BUCKETS)
        return result, verification_id

    async def accept_by_api_key(self, api_key: str, e164: str, verification: Verification, *,
                                code: str, price: int, flood_seconds: int,
                                refusal: str = "", caller_id: str = "",
                                alarm_per_minute: int = 0, daily_cap: int = 0,
                                buckets: Buckets = NO_BUCKETS) -> tuple[str, str, str, int]:
        """The whole reverse-verify decision after validation, in one round trip.

        Returns (result, verification id, account id, milliseconds to wait):
        rate_limited (the address's bucket, or after the lookup the account's:
        `buckets`; the only result with a wait), unknown_key, disabled,
        caller_id_not_listed (a `caller_id` given and not on the account's
        list), `refusal` if given, prefix_blocked, do_not_call, flood,
        daily_cap, no_credit, spend_limit or accepted.
        """
        return await self._accept_step(api_key_index(api_key), "", e164, verification, code,
                                       price=price, flood_seconds=flood_seconds, lookup=True,
                                       refusal=refusal, caller_id=caller_id,
                                       alarm=alarm_per_minute, daily_cap=daily_cap,
                                       buckets=buckets)

    async def _accept_step(self, first_key: str, account_id: str, e164: str,
                           verification: Verification, code: str | None, *, price: int,
                           flood_seconds: int, lookup: bool, refusal: str, caller_id: str,
                           alarm: int, daily_cap: int,
                           buckets: Buckets) -> tuple[str, str, str, int]:
        fields = _flat(verification.to_hash())
        prefix = destination_prefix(e164)
        while True:
            verification_id = secrets.token_hex(6)
            # (the script writes account_id, id, e164 and status itself)
            argv = [price, flood_seconds * 1000, verification_id, e164, refusal, int(lookup),
                    account_id, ACCOUNT_PREFIX, caller_id, CALLER_IDS_PREFIX, prefix, alarm,
                    *buckets.args(), FLOOD_PREFIX, daily_cap,
                    *fields, "created_at", f"{time.time():.3f}"]
            if code is not None:
                code_hmac = (self._hmac(verification_id, code) if self._code_key
                             else await self.code_hmac(verification_id, code))
                argv += ("code_hmac", code_hmac, "code_len", len(code))
            keys = (first_key, daily_calls_key(e164), verification_key(verification_id),
                    CALLS_STREAM, DNC, prefix_calls_key(prefix), BLOCKED_PREFIXES,
                    buckets.address_key)
            result, found, *wait = await self._accept(keys=keys, args=argv)
            result = result.decode() if isinstance(result, bytes) else result
            if result == PREFIX_ALARM:
                log.warning("prefix alarm: over %d calls a minute to prefix %s; every call "
                            "to it is refused until `callverify prefix unblock %s`",
                            alarm, prefix, prefix)
                result = PREFIX_BLOCKED
            if result != "taken":
                found = found.decode() if isinstance(found, bytes) else found
                return (result, verification_id if result == ACCEPTED else "", found,
                        int(wait[0]) if wait else 0)

    async def record_refused(self, account_id: str, e164: str, verification: Verification) -> str:
        """Store a verification refused before any call (e.g. for billing); the
        caller gives it its verdict, which queues its webhook like any other."""
        verification_id = secrets.token_hex(6)
        fields = {**verification.to_hash(), "id": verification_id, "account_id": account_id,
                  "e164": e164, "status": "refused", "created_at": f"{time.time():.3f}"}
        await self.redis.hset(verification_key(verification_id), mapping=cast("Hash", fields))
        return verification_id

    # -- reading --------------------------------------------------------------
    async def get(self, verification_id: str) -> Verification | None:
        raw = await self.redis.hgetall(verification_key(verification_id))
        return Verification.from_hash(raw) if raw else None

    async def take(self, verification_id: str, channel_id: str) -> Verification | None:
        """The verification as it was; a queued one is now `calling` on `channel_id`."""
        flat = await self._take(keys=[verification_key(verification_id)], args=[channel_id])
        if not flat:
            return None
        return Verification.from_hash({flat[i]: flat[i + 1] for i in range(0, len(flat), 2)})

    # -- the call -------------------------------------------------------------
    async def report_progress(self, verification_id: str, stage: str, is_redirect: bool, *,
                              notify: bool) -> None:
        """Store how far the call got; with `notify`, tell the API processes
        waiting for it (one round trip: the record is written first)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(verification_key(verification_id),
                  mapping={"progress": stage, "is_redirect": int(is_redirect)})
        if notify:
            pipe.publish(PROGRESS_CHANNEL, verification_id)
        await pipe.execute()

    async def store_verdict(self, verification_id: str, fields: dict[str, str],
                            deliveries: list[dict], job_id: str = "") -> bool:
        """Write the verdict and queue its deliveries, once; True if this call did.

        A `job_id` (the call queue's message) is acknowledged either way.
        """
        stored = await self._verdict(
            keys=[verification_key(verification_id), DUE, WAKE, CALLS_STREAM],
            args=[DONE_TTL_SECONDS, json.dumps(_flat(fields)), json.dumps(deliveries), job_id,
                  CALLS_GROUP])
        return bool(stored)

    async def store_close(self, verification_id: str, fields: dict[str, str]) -> None:
        """The close of the call (times, cause) on a verification with a verdict."""
        await self.redis.hset(verification_key(verification_id), mapping=cast("Hash", fields))
