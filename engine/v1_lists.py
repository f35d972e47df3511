"""An account's /v1 verifications, newest first, a page at a time: read from
the lists the accept step keeps (engine/accept_step.py V1_LUA; engine/keys.py
v1_list_key), one for the account and one for each number it called.

A list holds ids by created_at. A verification purged (`callverify purge`)
or expired is skipped; its id goes from the list as newer ones come.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from engine.keys import v1_list_key, verification_key
from engine.verification import Verification

BATCH_EXTRA = 10  # ids read beyond the page, for those that are gone


@dataclass(frozen=True)
class Position:
    """A page's last entry: the next page starts after it."""

    created_at: float
    verification_id: str


async def page(redis: Redis, account_id: str, *, e164: str = "", since: float | None = None,
               after: Position | None = None,
               limit: int = 20) -> tuple[list[Verification], Position | None]:
    """Up to `limit` of the account's verifications (to `e164` only, if
    given), newest first, created at or after `since`, older than `after`;
    and the position to read on from (None: no more)."""
    key = v1_list_key(account_id, e164)
    top: float | str = after.created_at if after else "+inf"
    bottom: float | str = since if since is not None else "-inf"
    found: list[tuple[Verification, float]] = []
    offset, batch = 0, limit + 1 + BATCH_EXTRA
    while len(found) <= limit:
        entries = cast("list[tuple[bytes, float]]", await redis.zrevrangebyscore(
            key, top, bottom, start=offset, num=batch, withscores=True))
        offset += len(entries)
        ids = [(member.decode(), score) for member, score in entries
               if not (after and score == after.created_at
                       and member.decode() >= after.verification_id)]
        async with redis.pipeline(transaction=False) as pipe:
            for verification_id, _ in ids:
                pipe.hgetall(verification_key(verification_id))
            hashes = await pipe.execute() if ids else []
        for (_, score), raw in zip(ids, hashes, strict=True):
            verification = Verification.from_hash(raw) if raw else None
            if verification is not None and verification.account_id == account_id:
                found.append((verification, score))
        if len(entries) < batch:
            break
    more = len(found) > limit
    shown = found[:limit]
    last = Position(shown[-1][1], shown[-1][0].id) if more and shown else None
    return [verification for verification, _ in shown], last
