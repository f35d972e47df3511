"""The numbers whose softphone accounts callverify created on Asterisk
(`callverify phone add`): a verification to one of them rings that phone."""
from __future__ import annotations

from redis.asyncio import Redis


class Phones:
    """The softphone numbers, as the engine last read them."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.numbers: frozenset[str] = frozenset()

    def __contains__(self, e164: object) -> bool:
        return e164 in self.numbers
