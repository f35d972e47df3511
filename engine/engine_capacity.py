"""What each engine can start, kept in Redis for the accept step's backpressure.

Every engine process writes, about once a second, its field of the hash
ENGINE_CAPACITY, under its consumer name: "<until> <rate> <free>". `rate` is
the calls it started a second over the last WINDOW_SECONDS, `free` its call
slots free now (both 0 while it cannot reach Asterisk, when it starts
nothing), `until` the time (Redis's clock) after which the accept step no
longer counts it: a dead engine counts for nothing TTL_SECONDS after its last
word. An engine that stops removes its field; the fields of engines silent
for FORGET_SECONDS are removed by the others. engine/backpressure.py reads them.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.keys import ENGINE_CAPACITY
from engine.scripts import lua_script

log = logging.getLogger(__name__)

WINDOW_SECONDS = 10.0
PUBLISH_SECONDS = 1.0
TTL_SECONDS = 5
FORGET_SECONDS = 3600

# One engine's word in a hash of engines (its capacity here, its health in
# engine/engine_health.py), stamped by Redis's clock (so the engines' and the
# API's clocks need not agree): "<live until> <word>"; the long-silent fields
# go in the same step. ARGV: field, ttl, forget after, word.
HEARTBEAT_LUA = """
local now = tonumber(redis.call('TIME')[1])
local forget_before = now - tonumber(ARGV[3])
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local live_until = tonumber(string.match(fields[i + 1], '^(%S+)') or '')
  if not live_until or live_until < forget_before then redis.call('HDEL', KEYS[1], fields[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], (now + tonumber(ARGV[2])) .. ' ' .. ARGV[4])
"""

class StartMeter:
    """The calls an engine started a second, over the last `window` seconds."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._starts: deque[float] = deque()

    def note_start(self, now: float | None = None) -> None:
        self._starts.append(time.monotonic() if now is None else now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self._starts and self._starts[0] <= now - self.window:
            self._starts.popleft()
        return len(self._starts) / self.window


class Heartbeat:
    """One engine's entry in a hash of engines (`key`): its word, stamped by
    Redis's clock, published every PUBLISH_SECONDS while the engine runs and
    withdrawn when it stops. While Redis is away it keeps trying: meanwhile
    the engine's last word expires, and it counts for nothing."""

    what = "engine heartbeat"  # how the log names it

    def __init__(self, redis: Redis, engine_name: str, key: str) -> None:
        self.redis = redis
        self.engine_name = engine_name
        self.key = key
        self._publish = lua_script(redis, HEARTBEAT_LUA)

    async def publish_word(self, word: str) -> None:
        await self._publish(keys=[self.key],
                            args=[self.engine_name, TTL_SECONDS, FORGET_SECONDS, word])

    async def withdraw(self) -> None:
        await self.redis.hdel(self.key, self.engine_name)

    async def beat(self, word: Callable[[], Awaitable[str]], stopping: asyncio.Event) -> None:
        """Publish `await word()` every PUBLISH_SECONDS until `stopping` is set, then withdraw."""
        while not stopping.is_set():
            try:
                await self.publish_word(await word())
            except (RedisError, OSError) as exc:
                log.debug("%s not published: %s", self.what, type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), PUBLISH_SECONDS)
        try:
            await self.withdraw()
        except (RedisError, OSError) as exc:
            log.debug("%s not withdrawn: %s", self.what, type(exc).__name__)


class CapacityReport(Heartbeat):
    """One engine's entry in ENGINE_CAPACITY."""

    what = "engine capacity"

    def __init__(self, redis: Redis, engine_name: str) -> None:
        super().__init__(redis, engine_name, ENGINE_CAPACITY)

    async def publish(self, rate: float, free: int) -> None:
        """Say what this engine starts: `rate` calls a second, `free` slots now."""
        await self.publish_word(capacity_word(rate, free))

    async def run(self, measure: Callable[[], tuple[float, int]],
                  stopping: asyncio.Event) -> None:
        """Publish `measure()` (rate, free) every PUBLISH_SECONDS until
        `stopping` is set, then withdraw."""
        async def word() -> str:
            return capacity_word(*measure())
        await self.beat(word, stopping)


def capacity_word(rate: float, free: int) -> str:
    """The capacity as the accept step's backpressure reads it: "<rate> <free>"."""
    return f"{rate:.3f} {max(free, 0)}"
