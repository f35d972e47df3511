"""The do-not-call list: E.164 numbers (digits, no plus) never dialled."""
from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from engine.keys import DNC


class DoNotCall:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def add(self, e164: str) -> None:
        await self.redis.sadd(DNC, e164)

    async def remove(self, e164: str) -> None:
        await self.redis.srem(DNC, e164)

    async def list(self) -> list[str]:
        members = cast("set[bytes]", await self.redis.smembers(DNC))  # replies are bytes
        return sorted(m.decode() for m in members)
