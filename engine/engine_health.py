"""Each engine's health in Redis, for /readyz and /metrics of any process.

Every engine writes, about once a second, its field of the hash
ENGINE_HEALTH under its consumer name: "<until> <ari> <trunk> <calls>":
whether its ARI events socket is connected (1/0), whether Asterisk has the
trunk endpoint (1/0, asked over ARI REST GET /endpoints every
TRUNK_CHECK_SECONDS while connected), its calls up, and `until` (Redis's
clock) after which it counts as gone. An engine that stops removes its
field; fields silent for FORGET_SECONDS are removed by the others. So an API
process without an engine of its own (`callverify api`) knows whether some
engine can place calls.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from engine.engine_capacity import Heartbeat
from engine.keys import ENGINE_HEALTH

log = logging.getLogger(__name__)

TRUNK_CHECK_SECONDS = 10.0


@dataclass(frozen=True)
class EngineHealth:
    """One engine's last word: `live` while its `until` is not past."""

    name: str
    live: bool
    ari: bool
    trunk: bool
    calls: int


def parse(name: str, word: str, now: float) -> EngineHealth | None:
    """An engine's field as written by `HealthReport.publish`; None if unreadable."""
    try:
        until, ari, trunk, calls = word.split()
        return EngineHealth(name, float(until) >= now, ari == "1", trunk == "1", int(calls))
    except ValueError:
        return None


async def engines_health(redis: Redis) -> list[EngineHealth]:
    """Every engine's health, live or not, by Redis's clock."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.hgetall(ENGINE_HEALTH)
        (seconds, _), fields = await pipe.execute()
    found = (parse(name.decode(), word.decode(), seconds) for name, word in fields.items())
    return sorted((health for health in found if health is not None), key=lambda h: h.name)


def not_ready(engines: list[EngineHealth], trunk_endpoint: str) -> str:
    """What keeps calls from being placed ("" when nothing): no live engine
    connected to ARI, or none whose Asterisk has the trunk endpoint."""
    connected = [e for e in engines if e.live and e.ari]
    if not connected:
        return "ari not connected"
    if not any(e.trunk for e in connected):
        return f"trunk endpoint {trunk_endpoint} not found"
    return ""


class HealthReport(Heartbeat):
    """One engine's entry in ENGINE_HEALTH."""

    what = "engine health"

    def __init__(self, redis: Redis, engine_name: str) -> None:
        super().__init__(redis, engine_name, ENGINE_HEALTH)

    async def publish(self, ari: bool, trunk: bool, calls: int) -> None:
        await self.publish_word(health_word(ari, trunk, calls))

    async def run(self, measure: Callable[[], tuple[bool, int]],
                  trunk_exists: Callable[[], Awaitable[bool]], stopping: asyncio.Event) -> None:
        """Publish `measure()` (ARI connected, calls up) and whether the trunk
        exists every PUBLISH_SECONDS until `stopping` is set, then withdraw.
        The trunk is asked again on each ARI reconnection, and every
        TRUNK_CHECK_SECONDS; an ARI error while asking counts as not there."""
        trunk, checked = False, 0.0

        async def word() -> str:
            nonlocal trunk, checked
            ari, calls = measure()
            if not ari:
                trunk, checked = False, 0.0
            elif not trunk or time.monotonic() - checked > TRUNK_CHECK_SECONDS:
                try:
                    trunk = await trunk_exists()
                except Exception as exc:  # ARI away or failing: asked again next time
                    log.debug("trunk endpoint not checked: %s", type(exc).__name__)
                    trunk = False
                checked = time.monotonic()
            return health_word(ari, trunk, calls)
        await self.beat(word, stopping)


def health_word(ari: bool, trunk: bool, calls: int) -> str:
    """The health as `parse` reads it: "<ari> <trunk> <calls>"."""
    return f"{int(ari)} {int(trunk)} {calls}"
