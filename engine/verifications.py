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
    BUSY,
    PREFIX_ALARM,
    PREFIX_BLOCKED,
    RATE_LIMITED,
    Acceptance,
)
from engine.backpressure import BACKLOG_FLOOR
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
    ENGINE_CAPACITY,
    FLOOD_PREFIX,
    PROGRESS_CHANNEL,
    V1_LIST_PREFIX,
    WAKE,
    WEBHOOK_PREFIX,
    account_key,
    api_key_index,
    daily_calls_key,
    number_index,
    prefix_calls_key,
    verification_key,
)
from engine.metrics import note_accept
from engine.prefixes import destination_prefix
from engine.record_scripts import TAKE_LUA, UPDATE_LUA, VERDICT_LUA
from engine.retention import DEFAULT_RETENTION_SECONDS
from engine.scripts import lua_script
from engine.v1_events import EVENT as V1_EVENT
from engine.verification import CALL_ONLY_FIELDS, Verification

if TYPE_CHECKING:
    from collections.abc import Mapping

    from redis.typing import EncodableT, FieldT

    # A hash's fields as redis-py's hset takes them; a dict[str, str] is not
    # one to mypy (the key type of Mapping is invariant), hence the casts.
    Hash = Mapping[FieldT, EncodableT]

log = logging.getLogger(__name__)

def _flat(fields: dict[str, str]) -> list[str]:
    return [part for pair in fields.items() for part in pair]


class Verifications:
    def __init__(self, redis: Redis, code_key: str = "",
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS) -> None:
        """`retention_seconds`: how long a record is kept after it is written."""
        self.redis = redis
        self._code_key = code_key.encode() if code_key else b""
        self.retention_seconds = retention_seconds
        self._accept = lua_script(redis, ACCEPT_LUA)
        self._verdict = lua_script(redis, VERDICT_LUA)
        self._take = lua_script(redis, TAKE_LUA)
        self._update = lua_script(redis, UPDATE_LUA)

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
                     price: int, flood_seconds: int, max_queue_seconds: float,
                     code: str | None = None, alarm_per_minute: int = 0,
                     daily_cap: int = 0) -> Acceptance:
        """Charge, flood-mark, store and queue one verification atomically.

        A `code` is stored only as its HMAC; the price charged is stored with
        the verification. The result is prefix_blocked, do_not_call, flood,
        daily_cap, no_credit, spend_limit, busy (no engine would start it
        within `max_queue_seconds`: with the seconds to wait) or accepted.
        `alarm_per_minute` 0: no velocity alarm; `daily_cap` 0: no cap on a
        number's calls a day.
        """
        return await self._accept_step(
            account_key(account_id), account_id, e164, verification, code, price=price,
            flood_seconds=flood_seconds, max_queue_seconds=max_queue_seconds, lookup=False,
            refusal="", caller_id="", alarm=alarm_per_minute, daily_cap=daily_cap,
            buckets=NO_BUCKETS)

    async def accept_by_api_key(self, api_key: str, e164: str, verification: Verification, *,
                                code: str, price: int, flood_seconds: int,
                                max_queue_seconds: float, refusal: str = "",
                                caller_id: str = "", alarm_per_minute: int = 0,
                                daily_cap: int = 0,
                                buckets: Buckets = NO_BUCKETS) -> Acceptance:
        """The whole reverse-verify decision after validation, in one round trip.

        The result is rate_limited (the address's bucket, or after the lookup
        the account's: `buckets`; with the milliseconds to wait), unknown_key,
        disabled, caller_id_not_listed (a `caller_id` given and not on the
        account's list), `refusal` if given, prefix_blocked, do_not_call,
        flood, daily_cap, no_credit, spend_limit, busy or accepted (as `accept`).
        """
        return await self.accept_by_credential(
            api_key_index(api_key), e164, verification, code=code, price=price,
            flood_seconds=flood_seconds, max_queue_seconds=max_queue_seconds, refusal=refusal,
            caller_id=caller_id, alarm_per_minute=alarm_per_minute, daily_cap=daily_cap,
            buckets=buckets)

    async def accept_by_credential(self, index_key: str, e164: str, verification: Verification,
                                   *, code: str, price: int, flood_seconds: int,
                                   max_queue_seconds: float, refusal: str = "",
                                   caller_id: str = "", alarm_per_minute: int = 0,
                                   daily_cap: int = 0, buckets: Buckets = NO_BUCKETS,
                                   listed: bool = False) -> Acceptance:
        """`accept_by_api_key` for the account a credential's index names
        (engine/keys.py api_key_index, token_index); unknown_key when it names
        none. With `listed` (a /v1 verification) an accepted one also goes into
        the account's lists (engine/keys.py v1_list_key) and takes the URL of
        the account's `verification` webhook."""
        return await self._accept_step(index_key, "", e164, verification, code,
                                       price=price, flood_seconds=flood_seconds,
                                       max_queue_seconds=max_queue_seconds, lookup=True,
                                       refusal=refusal, caller_id=caller_id,
                                       alarm=alarm_per_minute, daily_cap=daily_cap,
                                       buckets=buckets, listed=listed)

    async def _accept_step(self, first_key: str, account_id: str, e164: str,
                           verification: Verification, code: str | None, *, price: int,
                           flood_seconds: int, max_queue_seconds: float, lookup: bool,
                           refusal: str, caller_id: str, alarm: int, daily_cap: int,
                           buckets: Buckets, listed: bool = False) -> Acceptance:
        # The price is kept for a refund (a job not dialled).
        fields = _flat({**verification.to_hash(), "price": str(price)})
        prefix = destination_prefix(e164)
        v1 = (V1_LIST_PREFIX, WEBHOOK_PREFIX, V1_EVENT) if listed else ("", "", "")
        while True:
            verification_id = secrets.token_hex(6)
            # (the script writes account_id, id, e164 and status itself)
            argv = [price, flood_seconds * 1000, verification_id, e164, refusal, int(lookup),
                    account_id, ACCOUNT_PREFIX, caller_id, CALLER_IDS_PREFIX, prefix, alarm,
                    *buckets.args(), FLOOD_PREFIX, daily_cap,
                    CALLS_GROUP, max_queue_seconds, BACKLOG_FLOOR, self.retention_seconds,
                    *v1, *fields, "created_at", f"{verification.created_at or time.time():.3f}"]
            if code is not None:
                code_hmac = (self._hmac(verification_id, code) if self._code_key
                             else await self.code_hmac(verification_id, code))
                argv += ("code_hmac", code_hmac, "code_len", len(code))
            keys = (first_key, daily_calls_key(e164), verification_key(verification_id),
                    CALLS_STREAM, DNC, prefix_calls_key(prefix), BLOCKED_PREFIXES,
                    buckets.address_key, ENGINE_CAPACITY, number_index(e164))
            result, found, *wait = await self._accept(keys=keys, args=argv)
            result = result.decode() if isinstance(result, bytes) else result
            if result == PREFIX_ALARM:
                log.warning("prefix alarm: over %d calls a minute to prefix %s; every call "
                            "to it is refused until `callverify prefix unblock %s`",
                            alarm, prefix, prefix)
                result = PREFIX_BLOCKED
            if result != "taken":
                note_accept(verification.flow, result)
                found = found.decode() if isinstance(found, bytes) else found
                waited = int(wait[0]) if wait else 0
                return Acceptance(result, verification_id if result == ACCEPTED else "", found,
                                  retry_after=waited if result == BUSY else 0,
                                  wait_ms=waited if result == RATE_LIMITED else 0)

    async def record_refused(self, account_id: str, e164: str, verification: Verification) -> str:
        """Store a verification refused before any call (e.g. for billing); the
        caller gives it its verdict, which queues its webhook like any other.
        Kept as long as an accepted one. No code is stored, as none is spoken
        (the calling number, which ends with it, goes at the verdict, once
        the webhook that carries it is built)."""
        verification_id = secrets.token_hex(6)
        fields = {**verification.to_hash(), "id": verification_id, "account_id": account_id,
                  "e164": e164, "status": "refused", "created_at": f"{time.time():.3f}"}
        fields.pop("spoken_code", None)
        key, index = verification_key(verification_id), number_index(e164)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=cast("Hash", fields))
            pipe.expire(key, self.retention_seconds)
            pipe.sadd(index, key)
            pipe.expire(index, self.retention_seconds)
            await pipe.execute()
        return verification_id

    # -- reading --------------------------------------------------------------
    async def get(self, verification_id: str) -> Verification | None:
        raw = await self.redis.hgetall(verification_key(verification_id))
        return Verification.from_hash(raw) if raw else None

    async def take(self, verification_id: str, channel_id: str, *,
                   accepted_after: float = 0.0) -> tuple[Verification | None, str]:
        """The verification as it was, and why it is not to be dialled: EXPIRED
        (a queued one accepted before `accepted_after`, a Unix time) or
        ACCOUNT_DISABLED (its account disabled since); else "", and a queued
        one is now `calling` on `channel_id`."""
        not_dialled, flat = await self._take(
            keys=[verification_key(verification_id)],
            args=[channel_id, f"{accepted_after:.3f}", ACCOUNT_PREFIX])
        if not flat:
            return None, ""
        verification = Verification.from_hash({flat[i]: flat[i + 1]
                                               for i in range(0, len(flat), 2)})
        return verification, not_dialled.decode() if isinstance(not_dialled, bytes) else not_dialled

    # -- the call -------------------------------------------------------------
    async def report_progress(self, verification_id: str, stage: str, is_redirect: bool, *,
                              notify: bool) -> None:
        """Store how far the call got; with `notify`, tell the API processes
        waiting for it (one round trip: the record is written first)."""
        await self._update(keys=[verification_key(verification_id), PROGRESS_CHANNEL],
                           args=[verification_id if notify else "", "progress", stage,
                                 "is_redirect", int(is_redirect)])

    async def store_verdict(self, verification_id: str, fields: dict[str, str],
                            deliveries: list[dict], job_id: str = "", e164: str = "", *,
                            refund: bool = False) -> bool:
        """Write the verdict and queue its deliveries, once; True if this call did.

        A `job_id` (the call queue's message) is acknowledged either way. The
        deliveries are listed in the index of the number `e164` (if given). With
        `refund` (a job not dialled) only a verification still queued gets it,
        and its price goes back to its account in the same step.
        """
        keys = [verification_key(verification_id), DUE, WAKE, CALLS_STREAM]
        if e164:
            keys.append(number_index(e164))
        stored = await self._verdict(
            keys=keys, args=[self.retention_seconds, json.dumps(_flat(fields)),
                             json.dumps(deliveries), job_id, CALLS_GROUP,
                             ACCOUNT_PREFIX if refund else "", *CALL_ONLY_FIELDS])
        return bool(stored)

    async def store_close(self, verification_id: str, fields: dict[str, str]) -> None:
        """The close of the call (times, cause) on a verification with a verdict."""
        await self._update(keys=[verification_key(verification_id), PROGRESS_CHANNEL],
                           args=["", *_flat(fields)])
