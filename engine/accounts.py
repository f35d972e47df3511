"""Accounts: credentials (stored only as hashes), credit, state, per-account
settings (ring window, hourly spend limit, allowed caller IDs, default
locale) and webhook subscriptions."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis

from engine.keys import (
    ACCOUNT_SEQ,
    API_KEY_PREFIX,
    TOKEN_PREFIX,
    account_key,
    api_key_index,
    caller_ids_key,
    digest,
    token_index,
    webhook_key,
    webhook_secret_key,
)
from engine.scripts import lua_script
from engine.webhook_secrets import new_secret

FIRST_ACCOUNT_ID = 100000
# The most a balance may hold: the accept step reads it as a Lua number,
# exact for whole numbers up to 2^53.
MAX_BALANCE = 10**15

# Add ARGV[1] (negative: take back) to the balance, unless that would take it
# below 0 or above ARGV[2]; answers the result's name and the balance after
# (before, when refused), or 'unknown' for no account.
CHANGE_CREDITS_LUA = """
local held = redis.call('HGET', KEYS[1], 'credits')
if not held then return {'unknown', 0} end
local change, ceiling = tonumber(ARGV[1]), tonumber(ARGV[2])
local after = tonumber(held) + change
if after < 0 then return {'short', held} end
if change > 0 and after > ceiling then return {'over', held} end
return {'changed', redis.call('HINCRBY', KEYS[1], 'credits', change)}
"""

# Replace a credential: the account's hash field ARGV[1] names the old one's
# index (ARGV[2] .. hash), which goes; the new index KEYS[2] points at the
# account ARGV[3]; the field takes the new hash ARGV[4]. One step, so the old
# credential stops working the moment the new one exists. 0: no account.
ROTATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then redis.call('DEL', ARGV[2] .. old) end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1
"""


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    credits: int
    disabled: bool
    spend_limit: int | None = None  # units a clock hour; None: no limit


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    api_key: str
    token: str


def new_api_key() -> str:
    return secrets.token_hex(16)


def new_token() -> str:
    return secrets.token_urlsafe(32)


class CreditRefused(ValueError):
    """A change of credits refused: `reason` is 'short' (the balance would go
    below 0) or 'over' (above MAX_BALANCE); `balance` is the balance as it stays."""

    def __init__(self, reason: str, balance: int) -> None:
        super().__init__(reason)
        self.reason, self.balance = reason, balance


class Accounts:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._change_credits = lua_script(redis, CHANGE_CREDITS_LUA)
        self._rotate = lua_script(redis, ROTATE_LUA)

    async def create(self, name: str, credits: int) -> NewAccount:
        account_id = str(FIRST_ACCOUNT_ID + await self.redis.incr(ACCOUNT_SEQ))
        api_key = new_api_key()
        token = new_token()
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
        limit = raw.get(b"spend_limit")
        return Account(account_id, raw[b"name"].decode(), int(raw[b"credits"]),
                       raw[b"disabled"] == b"1", int(limit) if limit else None)

    async def _existing(self, account_id: str) -> str:
        """The account's key; KeyError when there is no such account."""
        key = account_key(account_id)
        if not await self.redis.exists(key):
            raise KeyError(account_id)
        return key

    async def add_credits(self, account_id: str, amount: int) -> int:
        """Add `amount` (negative: take it back) to the balance in one step;
        the balance after. KeyError for no account; CreditRefused when the
        balance would go below 0 or above MAX_BALANCE."""
        result, balance = await self._change_credits(keys=[account_key(account_id)],
                                                     args=[amount, MAX_BALANCE])
        result = result.decode() if isinstance(result, bytes) else result
        if result == "unknown":
            raise KeyError(account_id)
        if result != "changed":
            raise CreditRefused(result, int(balance))
        return int(balance)

    async def rotate_api_key(self, account_id: str) -> str:
        """A new api_key for the account; the old one stops working at once.
        KeyError for no account."""
        api_key = new_api_key()
        await self._replace(account_id, "api_key_hash", API_KEY_PREFIX, api_key_index(api_key),
                            digest(api_key))
        return api_key

    async def rotate_token(self, account_id: str) -> str:
        """A new bearer token for the account; the old one stops working at once."""
        token = new_token()
        await self._replace(account_id, "token_hash", TOKEN_PREFIX, token_index(token),
                            digest(token))
        return token

    async def _replace(self, account_id: str, field: str, prefix: str, index: str,
                       hashed: str) -> None:
        if not await self._rotate(keys=[account_key(account_id), index],
                                  args=[field, prefix, account_id, hashed]):
            raise KeyError(account_id)

    async def set_disabled(self, account_id: str, disabled: bool) -> None:
        await self.redis.hset(await self._existing(account_id), "disabled", int(disabled))

    async def set_ring_seconds(self, account_id: str, seconds: float) -> None:
        await self.redis.hset(await self._existing(account_id), "ring_seconds", seconds)

    async def ring_seconds(self, account_id: str) -> float | None:
        raw = await self.redis.hget(account_key(account_id), "ring_seconds")
        return float(raw) if raw else None

    async def set_locale(self, account_id: str, locale: str) -> None:
        """The locale of the account's calls that name none (the accept step
        applies it); "" removes it: English."""
        key = await self._existing(account_id)
        if locale:
            await self.redis.hset(key, "locale", locale)
        else:
            await self.redis.hdel(key, "locale")

    async def locale(self, account_id: str) -> str:
        raw = await self.redis.hget(account_key(account_id), "locale")
        return raw.decode() if isinstance(raw, bytes) else raw or ""

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

    # -- the hourly spend limit (the accept step keeps `spend_hour` and `spent`)
    async def set_spend_limit(self, account_id: str, units: int | None) -> None:
        """At most `units` charged a clock hour; None removes the limit."""
        key = await self._existing(account_id)
        if units is None:
            await self.redis.hdel(key, "spend_limit")
        else:
            await self.redis.hset(key, "spend_limit", units)

    async def spent_this_hour(self, account_id: str) -> int:
        """Units charged since the start of the clock hour (by Redis's clock)."""
        hour, spent = cast("list[bytes | None]", await self.redis.hmget(
            account_key(account_id), ["spend_hour", "spent"]))
        seconds, _ = await self.redis.time()
        return int(spent) if hour and spent and int(hour) == seconds // 3600 else 0

    # -- the caller IDs the operator allowed the account to show
    async def add_caller_id(self, account_id: str, number: str) -> None:
        await self._existing(account_id)
        await self.redis.sadd(caller_ids_key(account_id), number)

    async def remove_caller_id(self, account_id: str, number: str) -> bool:
        return bool(await self.redis.srem(caller_ids_key(account_id), number))

    async def caller_ids(self, account_id: str) -> list[str]:
        members = cast("set[bytes]", await self.redis.smembers(caller_ids_key(account_id)))
        return sorted(member.decode() for member in members)
