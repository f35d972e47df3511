"""The velocity alarm's destination prefixes: an E.164 number less its last 4
digits. The accept step (engine/verifications.py) counts the calls accepted
to a prefix in each clock minute; a request that would go over
`prefix_alarm_per_minute` blocks the prefix until an operator unblocks it.
"""
from __future__ import annotations

import re
from typing import cast

from redis.asyncio import Redis

from engine.keys import BLOCKED_PREFIXES, prefix_calls_key

PREFIX_DIGITS = re.compile(r"[1-9][0-9]{0,14}")


def destination_prefix(e164: str) -> str:
    """The number less its last 4 digits (the part a range holder sells)."""
    return e164[:-4]


class BlockedPrefixes:
    """The prefixes the alarm blocked, for the operator's commands."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def list(self) -> dict[str, float]:
        """Each blocked prefix and when it was blocked (Unix time)."""
        raw = cast("dict[bytes, bytes]", await self.redis.hgetall(BLOCKED_PREFIXES))
        return {prefix.decode(): float(at) for prefix, at in sorted(raw.items())}

    async def unblock(self, prefix: str) -> bool:
        """Lift the block and start the minute's count again; False if it was not blocked."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(BLOCKED_PREFIXES, prefix)
            pipe.delete(prefix_calls_key(prefix))
            removed, _ = await pipe.execute()
        return bool(removed)
