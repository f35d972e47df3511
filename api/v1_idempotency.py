"""Idempotency-Key for POST /v1/verifications: a retried request gets the
verification the first one made, and no second call is placed.

A key is the account's own (the Redis record is named by the account and
the key's hash: engine/keys.py idempotency_key). The first request with a
key claims it (pending, for at most PENDING_SECONDS, so a request that died
does not hold it); when it is accepted, the record keeps the request's
fingerprint, the verification's id and the code it answered, for
KEEP_SECONDS; when it is refused, the claim is released and the key is free.

Another request with the key then gets:
- the same fingerprint, done: the same verification (`Claim.replay`);
- another fingerprint: 422 idempotency_key_reused;
- the same fingerprint, still pending: it waits up to WAIT_SECONDS for the
  first's result, then 409 idempotency_in_progress.

The record is listed in the number's index, so `callverify purge` removes it.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from engine.keys import idempotency_key, number_index

PENDING_SECONDS = 30
KEEP_SECONDS = 24 * 3600
WAIT_SECONDS = 2.0
POLL_SECONDS = 0.02

NEW, REPLAY, REUSED, IN_PROGRESS = "new", "replay", "reused", "in_progress"


@dataclass(frozen=True)
class Claim:
    """What a request with a key may do: NEW (place the call, then `complete`
    or `release`), REPLAY (answer `record`'s verification), REUSED, IN_PROGRESS."""

    state: str
    record: dict | None = None  # REPLAY: verification_id, code


async def claim(redis: Redis, account_id: str, key: str, fingerprint: str) -> Claim:
    """Claim `key` for a request with `fingerprint`, or say why not."""
    name = idempotency_key(account_id, key)
    pending = json.dumps({"state": "pending", "fingerprint": fingerprint})
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if await redis.set(name, pending, nx=True, ex=PENDING_SECONDS):
            return Claim(NEW)
        raw = await redis.get(name)
        record = json.loads(raw) if raw is not None else None  # None: freed since, claim again
        if record is not None and record["fingerprint"] != fingerprint:
            return Claim(REUSED)
        if record is not None and record["state"] == "done":
            return Claim(REPLAY, record)
        if time.monotonic() >= deadline:
            return Claim(IN_PROGRESS)
        if record is not None:
            await asyncio.sleep(POLL_SECONDS)


async def complete(redis: Redis, account_id: str, key: str, fingerprint: str, e164: str, *,
                   verification_id: str, code: str) -> None:
    """Keep the accepted request's verification (and the code it answered) for the key."""
    name = idempotency_key(account_id, key)
    record = {"state": "done", "fingerprint": fingerprint, "verification_id": verification_id,
              "code": code}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(name, json.dumps(record), ex=KEEP_SECONDS)
        pipe.sadd(number_index(e164), name)
        pipe.expire(number_index(e164), KEEP_SECONDS, nx=True)  # (it has one, unless purged)
        await pipe.execute()


async def release(redis: Redis, account_id: str, key: str) -> None:
    """Free the key of a request that was refused (or failed) before a call."""
    await redis.delete(idempotency_key(account_id, key))
