"""Whether the Redis the service uses keeps its data across a restart.

Accounts, credits, queued calls and undelivered callbacks live only in Redis:
a Redis that neither appends to an AOF nor saves RDB snapshots loses them all
when it restarts. `callverify run`, `api`, `engine` and `deliver` check once
at start (api/service.py `serve`) and log a warning if so, or if they cannot
tell. The check reads CONFIG GET; a Redis that refuses CONFIG (renamed or
denied by an ACL, as managed services do) is asked INFO persistence, which
shows AOF but not the RDB schedule.
"""
from __future__ import annotations

import logging

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from api.redis_client import REDIS_DOWN
from engine.settings_rules import mask_url

log = logging.getLogger(__name__)
HOW = "see docs/operations.md, \"Slow clients, admin and Redis\""


def text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def persistence_problem(redis: Redis) -> str | None:
    """What is wrong with the Redis's persistence, or None when it keeps its data
    (AOF on, or an RDB save schedule)."""
    try:
        config = {text(k): text(v) for k, v in
                  (await redis.config_get("appendonly")).items()}
        config.update((text(k), text(v)) for k, v in (await redis.config_get("save")).items())
    except redis_errors.ResponseError:  # CONFIG refused: INFO tells AOF, not the RDB schedule
        info = await redis.info("persistence")
        if str(info.get("aof_enabled")) == "1":
            return None
        return ("its persistence settings cannot be read (CONFIG refused) and AOF is off: "
                "unless RDB snapshots are scheduled, a restart loses every account, credit "
                "and queued call")
    if config.get("appendonly") == "yes" or config.get("save", "").strip():
        return None
    return ("it keeps no data on disk (appendonly no, save \"\"): a restart loses every "
            "account, credit and queued call; turn AOF on (appendonly yes)")


async def warn_if_not_persistent(redis: Redis, url: str) -> None:
    """Log one warning when the Redis at `url` may lose its data on a restart;
    nothing when it keeps it, or does not answer (the service reports that)."""
    try:
        problem = await persistence_problem(redis)
    except REDIS_DOWN:
        return
    except redis_errors.RedisError as exc:
        log.warning("Redis at %s: could not check its persistence (%s); %s", mask_url(url),
                    type(exc).__name__, HOW)
        return
    if problem is not None:
        log.warning("Redis at %s: %s; %s", mask_url(url), problem, HOW)
