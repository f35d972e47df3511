"""The Redis client the API and the CLI share, tuned to fail fast."""
from __future__ import annotations

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError)


def connect_redis(url: str) -> Redis:
    """A Redis client that gives up within seconds, so callers can answer 503 promptly."""
    return Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.01), 2))
