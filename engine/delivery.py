"""Callbacks and webhooks: persisted in Redis, retried with backoff until a 2xx.

A delivery is a hash plus its due time in a sorted set. A worker leases due
deliveries by pushing their due time forward (atomically), so several workers
never send the same one twice at once, and a worker that dies mid-send leaves
the delivery to be retried when the lease runs out.

Every send goes through the egress guard (engine/egress.py, engine/outbound.py).
A delivery it refuses, or whose URL could not be built, goes straight to the
dead list with the reason in `last_error`; so does one that keeps failing
past the give-up time. Logs and `last_error` name a delivery by its id, kind
and host, never by its URL: a callback's query carries the customer's secret.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback

import aiohttp
from redis.asyncio import Redis

from engine.delivery_record import LEASE_SECONDS, Delivery
from engine.egress import EgressRefused
from engine.keys import DEAD, DELIVERY_PREFIX, DUE, WAKE, delivery_key
from engine.metrics import note_delivery_failed, note_delivery_given_up
from engine.outbound import failure_text, outbound_session, send
from engine.retention import DEFAULT_RETENTION_SECONDS, DeadList
from engine.scripts import lua_script
from engine.webhook_signing import DeliverySigner

log = logging.getLogger(__name__)

LEASE_BATCH = 50
# Deliveries due this soon are leased too: a wake-up never misses one whose due
# time, taken on another process's clock, is a hair ahead of ours.
EARLY_SECONDS = 1.0
# How often a running deliverer trims the dead list of entries past retention.
TRIM_EVERY_SECONDS = 60.0


# Lease up to ARGV[3] deliveries due by ARGV[1] until ARGV[2]; returns {id,
# fields} pairs, so sending needs no further read. A due id whose hash is gone
# is dropped. The wake list is emptied: what it announced is leased now, and
# anything queued later pushes a new entry.
LEASE_LUA = """
redis.call('DEL', KEYS[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local leased = {}
for _, id in ipairs(due) do
  local fields = redis.call('HGETALL', ARGV[4] .. id)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    leased[#leased + 1] = {id, fields}
  end
end
return leased
"""
DONE_LUA = """
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
"""


class Deliverer:
    """Sends due deliveries; one instance per process is plenty.

    A process that finishes verifications beside its deliverer hands their
    deliveries over directly (`hand_over`): they are stored already leased,
    so no other worker sends them, and are sent at once, without the wake-up
    and lease round trips. If this process dies first, the lease runs out
    and any worker sends them then.
    """

    def __init__(self, redis: Redis, *, timeout: float = 10.0, backoff_base: float = 5.0,
                 backoff_max: float = 600.0, give_up_seconds: float = 7200.0,
                 concurrency: int = 50, egress_allow: tuple[str, ...] = (),
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS) -> None:
        """`egress_allow`: CIDRs a delivery may reach though not globally routable;
        `retention_seconds`: how long a given-up delivery stays on the dead list."""
        self.redis = redis
        self.egress_allow = tuple(egress_allow)
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.give_up_seconds = give_up_seconds
        self._lease = lua_script(redis, LEASE_LUA)
        self._done_script = lua_script(redis, DONE_LUA)
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._signer = DeliverySigner(redis)
        self._dead = DeadList(redis, retention_seconds)

    @property
    def taking(self) -> bool:
        """Whether `hand_over` sends now (the deliverer runs and is not stopping)."""
        return self._http is not None and not self._stopping.is_set()

    def stop(self) -> None:
        """Ask `run` to return once the deliveries in flight are sent."""
        self._stopping.set()

    def hand_over(self, deliveries: list[dict]) -> None:
        """Send deliveries stored leased to this process (`new_delivery(leased=True)`)."""
        for new in deliveries:
            self._spawn(self._send_when_free(Delivery.from_new(new)))

    async def run(self) -> None:
        async with outbound_session(self.egress_allow, self.timeout) as http:
            self._http = http
            try:
                await self._lease_until_stopped()
                if self._tasks:
                    await asyncio.wait(set(self._tasks), timeout=self.timeout)
            finally:
                self._http = None

    async def _lease_until_stopped(self) -> None:
        last_trim = 0.0
        while not self._stopping.is_set():
            now = time.time()
            if now - last_trim > TRIM_EVERY_SECONDS:
                last_trim = now
                if trimmed := await self._dead.trim(now):
                    log.info("dead list: %d deliveries given up over the retention time "
                             "ago removed", trimmed)
            due = await self._lease(keys=[DUE, WAKE],
                                    args=[now + EARLY_SECONDS, now + LEASE_SECONDS,
                                          LEASE_BATCH, DELIVERY_PREFIX])
            for raw_id, flat in due:
                await self._slots.acquire()
                self._spawn(self._send(Delivery.from_hash(raw_id.decode(), flat)))
            if len(due) < LEASE_BATCH:  # nothing else due: wait for a wake-up
                await self.redis.blpop([WAKE], timeout=0.5)

    def _spawn(self, sending) -> None:
        task = asyncio.get_running_loop().create_task(sending)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_when_free(self, delivery: Delivery) -> None:
        await self._slots.acquire()
        await self._send(delivery)

    async def _send(self, delivery: Delivery) -> None:
        """Send once (a free slot is held and released here)."""
        try:
            http = self._http
            if http is None or http.closed:  # stopped since it was handed over
                await self._release(delivery.delivery_id)
                return
            try:
                error = await self._attempt(http, delivery)
            except EgressRefused as refused:
                await self._bury(delivery, delivery.attempts, f"egress refused: {refused}")
                return
            if error is None:
                await self._done(delivery.delivery_id)
            else:
                await self._retry(delivery, error)
        except Exception as exc:
            await self._failed_unexpectedly(delivery, exc)
        finally:
            self._slots.release()

    async def _attempt(self, http: aiohttp.ClientSession, delivery: Delivery) -> str | None:
        """Send once: None when the receiver took it (2xx), else what went wrong."""
        if delivery.refused:
            raise EgressRefused(delivery.refused)
        headers = {"User-Agent": "callverify"}
        data = None
        if delivery.body:
            headers["Content-Type"] = "application/json"
            data = delivery.body
        headers.update(await self._signer.headers(delivery))
        try:
            status = await send(http, self.egress_allow, delivery.method, delivery.url,
                                data=data, headers=headers)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return failure_text(exc)
        if 200 <= status < 300:
            log.info("delivery %s: %s after %d attempt(s)", delivery.named, status,
                     delivery.attempts + 1)
            return None
        return f"HTTP {status}"

    async def _failed_unexpectedly(self, delivery: Delivery, exc: Exception) -> None:
        """Count an attempt that raised as a failed one, so it is not leased forever.

        Logged with where it was raised, not the exception's text (it may
        carry the URL); if Redis cannot take the count, the lease runs out
        and the delivery is sent again.
        """
        where = "".join(traceback.format_tb(exc.__traceback__))
        log.error("delivery %s: unexpected %s; counted as a failed attempt\n%s",
                  delivery.named, type(exc).__name__, where)
        try:
            await self._retry(delivery, f"unexpected {type(exc).__name__}")
        except Exception as again:
            log.error("delivery %s: could not count the failed attempt (%s); the lease will "
                      "expire and it is sent again", delivery.delivery_id, type(again).__name__)

    async def _done(self, delivery_id: str) -> None:
        await self._done_script(keys=[delivery_key(delivery_id), DUE], args=[delivery_id])

    async def _release(self, delivery_id: str) -> None:
        """Give a leased delivery back, due now, to whichever worker wakes first."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(DUE, {delivery_id: time.time()})
            pipe.rpush(WAKE, delivery_id)
            await pipe.execute()

    async def _retry(self, delivery: Delivery, error: str) -> None:
        note_delivery_failed(delivery.kind)
        attempts = delivery.attempts + 1
        key = delivery_key(delivery.delivery_id)
        if time.time() - delivery.created_at > self.give_up_seconds:
            await self._bury(delivery, attempts, error, f"giving up after {attempts} attempts")
            return
        delay = min(self.backoff_base * 2 ** (attempts - 1), self.backoff_max)
        delay *= random.uniform(0.8, 1.2)
        log.info("delivery %s: attempt %d failed (%s); next in %.1fs",
                 delivery.named, attempts, error, delay)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"attempts": attempts, "last_error": error})
            pipe.zadd(DUE, {delivery.delivery_id: time.time() + delay})
            await pipe.execute()

    async def _bury(self, delivery: Delivery, attempts: int, error: str,
                    why: str = "not sent") -> None:
        """Move it to the dead list (DEAD) with the reason in `last_error`."""
        log.warning("delivery %s: %s (%s); moved to the dead list", delivery.named, why, error)
        note_delivery_given_up(delivery.kind)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(delivery_key(delivery.delivery_id),
                      mapping={"attempts": attempts, "last_error": error})
            pipe.zrem(DUE, delivery.delivery_id)
            pipe.zadd(DEAD, {delivery.delivery_id: time.time()})
            await pipe.execute()
