"""The gauges read when /metrics is scraped: Redis's round trip, the call
queue, the deliveries' backlog, the engines' health (engine/engine_health.py),
and this process's own engine (ARI connected, calls up).

Reading them costs one round trip (two when jobs wait), once a scrape, and
nothing per call. While Redis does not answer, only `callverify_redis_up 0`
and this process's own values are given: a scrape never fails for it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.engine_health import EngineHealth, parse
from engine.keys import CALLS_GROUP, CALLS_STREAM, DEAD, DUE, ENGINE_HEALTH

# This process's engine: (ARI connected, calls up), or None without one.
LocalEngine = Callable[[], tuple[bool, int]]


def gauge(name: str, documentation: str, value: float | None = None,
          labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value,
                             labels=list(labels) if labels else None)


def queue_gauges(length: int, groups: Any, oldest_id: bytes | str | None, now_ms: int) -> list[Metric]:
    """The call queue from XLEN, XINFO GROUPS and the first waiting entry's id.
    Finished jobs are deleted from the stream, so what is in it and not taken waits."""
    ours = next((g for g in groups or () if _text(g.get("name")) == CALLS_GROUP), None)
    taken = int(ours["pending"]) if ours else 0
    jobs = gauge("callverify_queue_jobs", "Call jobs in the queue: waiting for an engine, "
                 "or taken by one and not finished", labels=("state",))
    jobs.add_metric(["waiting"], max(length - taken, 0))
    jobs.add_metric(["taken"], taken)
    age = 0.0
    if oldest_id is not None:
        age = max(now_ms - int(_text(oldest_id).split("-")[0]), 0) / 1000
    return [jobs, gauge("callverify_queue_oldest_job_age_seconds",
                        "Age of the oldest job no engine has taken yet (0: none waits)", age)]


def engine_gauges(engines: list[EngineHealth]) -> list[Metric]:
    live = [e for e in engines if e.live]
    return [gauge("callverify_engines_live", "Engines that reported in the last seconds",
                  len(live)),
            gauge("callverify_engines_ready", "Live engines connected to ARI whose Asterisk "
                  "has the trunk endpoint", sum(1 for e in live if e.ari and e.trunk))]


def local_gauges(local: LocalEngine | None) -> list[Metric]:
    if local is None:
        return []
    connected, calls = local()
    return [gauge("callverify_ari_connected", "1 while this process's engine has its ARI "
                  "events socket connected", int(connected)),
            gauge("callverify_calls_up", "Calls this process's engine has in progress", calls)]


async def read_gauges(redis: Redis, local: LocalEngine | None = None) -> list[Metric]:
    """Every gauge of a scrape (see the module's docstring)."""
    found = local_gauges(local)
    started = time.monotonic()
    try:
        await redis.ping()
        roundtrip = time.monotonic() - started
        async with redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.xlen(CALLS_STREAM)
            pipe.xinfo_groups(CALLS_STREAM)
            pipe.zcard(DUE)
            pipe.zcard(DEAD)
            pipe.hgetall(ENGINE_HEALTH)
            (seconds, micros), length, groups, due, dead, health = await pipe.execute(
                raise_on_error=False)
        groups = groups if isinstance(groups, list) else []  # no stream yet: an error
        ours = next((g for g in groups if _text(g.get("name")) == CALLS_GROUP), None)
        oldest = None
        if isinstance(length, int) and length > (int(ours["pending"]) if ours else 0):
            # The first entry past what the engines' group has read (all, before it exists).
            after = f"({_text(ours['last-delivered-id'])}" if ours else "-"
            entries = await redis.xrange(CALLS_STREAM, min=after, count=1)
            oldest = entries[0][0] if entries else None
    except (RedisError, OSError):
        return [*found, gauge("callverify_redis_up", "1 when Redis answered this scrape", 0)]
    engines = [h for name, word in health.items()
               if (h := parse(_text(name), _text(word), seconds)) is not None]
    return [*found, gauge("callverify_redis_up", "1 when Redis answered this scrape", 1),
            gauge("callverify_redis_roundtrip_seconds", "The round trip of a PING to Redis, "
                  "measured at this scrape", roundtrip),
            *queue_gauges(length if isinstance(length, int) else 0, groups, oldest,
                          seconds * 1000 + micros // 1000),
            gauge("callverify_deliveries_due", "Callbacks and webhooks waiting to be sent "
                  "(due now or to be tried again)", _count(due)),
            gauge("callverify_deliveries_dead", "Callbacks and webhooks given up, still kept "
                  "(the dead list)", _count(dead)),
            *engine_gauges(engines)]


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
