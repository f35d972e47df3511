"""The call queue: a Redis Stream read by the consumer group "engines".

A job is acknowledged only after its outcome is stored, so a job held by an
engine that died is still pending and is claimed again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from engine.keys import CALLS_GROUP, CALLS_STREAM
from engine.scripts import lua_script

ACK_LUA = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
"""


@dataclass(frozen=True)
class Job:
    message_id: str
    verification_id: str


def _jobs(entries) -> list[Job]:
    jobs = []
    for message_id, fields in entries or []:
        if fields is None:  # deleted from the stream while pending
            continue
        vid = fields.get(b"verification_id", b"").decode()
        jobs.append(Job(message_id.decode(), vid))
    return jobs


class CallQueue:
    def __init__(self, redis: Redis, consumer: str) -> None:
        self.redis = redis
        self.consumer = consumer
        self._ack = lua_script(redis, ACK_LUA)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(CALLS_STREAM, CALLS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def own_pending(self, count: int = 100) -> list[Job]:
        """Jobs this consumer had taken and not finished (e.g. before a restart)."""
        # In RESP2 (the client's protocol) a list of [stream, entries], not RESP3's dict.
        reply = cast("list[list[Any]]", await self.redis.xreadgroup(
            CALLS_GROUP, self.consumer, {CALLS_STREAM: "0"}, count=count))
        return _jobs(reply[0][1]) if reply else []

    async def take(self, count: int, block_ms: int) -> list[Job]:
        """New jobs, waiting up to `block_ms` for one."""
        reply = cast("list[list[Any]]", await self.redis.xreadgroup(
            CALLS_GROUP, self.consumer, {CALLS_STREAM: ">"}, count=count, block=block_ms))
        return _jobs(reply[0][1]) if reply else []

    async def claim_stale(self, min_idle_ms: int, count: int = 50) -> list[Job]:
        """Jobs another consumer took and left idle longer than `min_idle_ms`."""
        reply = await self.redis.xautoclaim(CALLS_STREAM, CALLS_GROUP, self.consumer,
                                            min_idle_time=min_idle_ms, start_id="0-0",
                                            count=count)
        return _jobs(reply[1])

    async def ack(self, job: Job) -> None:
        """Done with a job: acknowledged and removed from the stream, in one step."""
        await self._ack(keys=[CALLS_STREAM], args=[CALLS_GROUP, job.message_id])

    async def pending_count(self) -> int:
        info = await self.redis.xpending(CALLS_STREAM, CALLS_GROUP)
        return int(info["pending"])
