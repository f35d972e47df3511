"""The one way a callverify process opens Redis: the services and the CLI.

Tuned to fail fast, so the API can answer 503 promptly and the CLI exits
instead of hanging. Every blocking read on this client returns well within its
socket_timeout: the engine's XREADGROUP blocks 1 s (engine/queue.py `take`),
the deliverer's BLPOP 0.5 s (engine/delivery.py), and the API's progress
subscription reads with a timeout of its own (api/progress.py).
"""
from __future__ import annotations

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError)
# One process's pool, shared by its engine's concurrent calls, its API's
# requests and its deliverer (each Lua script holds one pooled connection for
# itself, engine/batched_script.py). Beyond it a command fails at once.
MAX_CONNECTIONS = 200


def connect_redis(url: str) -> Redis:
    """A Redis client that gives up within seconds, so callers can answer 503 promptly."""
    return Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30,
        retry=Retry(ExponentialWithJitterBackoff(cap=0.2, base=0.01), 2),
        max_connections=MAX_CONNECTIONS)
