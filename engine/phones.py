"""The numbers whose softphone accounts callverify created on Asterisk
(`callverify phone add`): a verification to one of them rings that phone.

The set lives in Redis; each engine keeps a copy (`numbers`) that `follow`
keeps fresh: read when the engine starts, and again on every change announced
on PHONES_CHANNEL, so a phone added while the engine runs is rung by the next
call (after the announcement's trip through Redis). While the subscription is
down changes are missed; it is made again within a second of Redis answering,
and the set read again then.
"""
from __future__ import annotations

import asyncio
import logging
from typing import cast

from redis.asyncio import Redis

from engine.keys import PHONES, PHONES_CHANNEL
from engine.subscriptions import follow_channel

log = logging.getLogger(__name__)


class Phones:
    """The softphone numbers, as the engine last read them."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.numbers: frozenset[str] = frozenset()

    def __contains__(self, e164: object) -> bool:
        return e164 in self.numbers

    async def add(self, e164: str) -> bool:
        """Add a number (False if it was there); the engines hear of it at once."""
        added = bool(await self.redis.sadd(PHONES, e164))
        await self.redis.publish(PHONES_CHANNEL, e164)
        return added

    async def remove(self, e164: str) -> bool:
        """Remove a number (False if it was not there); the engines hear of it at once."""
        removed = bool(await self.redis.srem(PHONES, e164))
        await self.redis.publish(PHONES_CHANNEL, e164)
        return removed

    async def list(self) -> list[str]:
        members = cast("set[bytes]", await self.redis.smembers(PHONES))  # replies are bytes
        return sorted(m.decode() for m in members)

    async def refresh(self) -> None:
        """Read the set into `numbers`."""
        self.numbers = frozenset(await self.list())

    async def follow(self, done: asyncio.Event) -> None:
        """Keep `numbers` fresh until `done` is set (see the module's docstring):
        read again when the subscription holds and at each change announced."""
        async def changed(_number: str) -> None:
            await self.refresh()
        await follow_channel(self.redis, PHONES_CHANNEL, done, on_subscribe=self.refresh,
                             on_message=changed, what="softphone list")
