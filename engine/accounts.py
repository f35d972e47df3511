"""Accounts: credentials (stored only as hashes), credit, state, per-account
settings and webhook subscriptions."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from engine.keys import (
    ACCOUNT_SEQ,
    account_key,
    api_key_index,
    digest,
    token_index,
    webhook_key,
    webhook_secret_key,
)
from engine.webhook_secrets import new_secret

FIRST_ACCOUNT_ID = 100000


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    credits: int
    disabled: bool


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    api_key: str
    token: str


class Accounts:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def create(self, name: str, credits: int) -> NewAccount:
        account_id = str(FIRST_ACCOUNT_ID + await self.redis.incr(ACCOUNT_SEQ))
        api_key = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(account_key(account_id), mapping={
                "name": name, "credits": credits, "disabled": 0,
                "api_key_hash": digest(api_key), "token_hash": digest(token),
                "created_at": f"{time.time():.3f}",
            })
            pipe.set(api_key_index(api_key), account_id)
            pipe.set(token_index(token), account_id)
            pipe.hset(webhook_secret_key(account_id), "secret", new_secret())
            await pipe.execute()
        return NewAccount(account_id, api_key, token)

    async def get(self, account_id: str) -> Account | None:
        # Replies are bytes: the client does not decode them (api/redis_client.py).
        raw = cast("dict[bytes, bytes]", await self.redis.hgetall(account_key(account_id)))
        if not raw:
            return None
        return Account(account_id, raw[b"name"].decode(), int(raw[b"credits"]),
                       raw[b"disabled"] == b"1")

    async def by_token(self, token: str) -> Account | None:
        account_id = cast("bytes | None", await self.redis.get(token_index(token)))
        return await self.get(account_id.decode()) if account_id else None

    async def _existing(self, account_id: str) -> str:
        """The account's key; KeyError when there is no such account."""
        key = account_key(account_id)
        if not await self.redis.exists(key):
            raise KeyError(account_id)
        return key

    async def add_credits(self, account_id: str, amount: int) -> int:
        return await self.redis.hincrby(await self._existing(account_id), "credits", amount)

    async def set_disabled(self, account_id: str, disabled: bool) -> None:
        await self.redis.hset(await self._existing(account_id), "disabled", int(disabled))

    async def set_ring_seconds(self, account_id: str, seconds: float) -> None:
        await self.redis.hset(await self._existing(account_id), "ring_seconds", seconds)

    async def ring_seconds(self, account_id: str) -> float | None:
        raw = await self.redis.hget(account_key(account_id), "ring_seconds")
        return float(raw) if raw else None

    async def set_webhook(self, account_id: str, event: str, url: str, fields: list[str]) -> None:
        await self._existing(account_id)
        await self.redis.hset(webhook_key(account_id, event),
                              mapping={"url": url, "fields": json.dumps(fields)})

    async def webhook(self, account_id: str, event: str) -> dict | None:
        """{"url": ..., "fields": [...]} or None when the account has no subscription."""
        raw = cast("dict[bytes, bytes]", await self.redis.hgetall(webhook_key(account_id, event)))
        if not raw:
            return None
        return {"url": raw[b"url"].decode(), "fields": json.loads(raw[b"fields"])}

    async def delete_webhook(self, account_id: str, event: str) -> bool:
        return bool(await self.redis.delete(webhook_key(account_id, event)))
