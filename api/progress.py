"""Waiting for a call's progress without polling Redis.

The engine publishes a verification's id on `PROGRESS_CHANNEL` after it writes
how far the call got (engine/store.py `report_progress`). Each API process
holds one subscription, opened on first use, and wakes the requests waiting
for that id. A message lost while the subscription reconnects only delays an
answer: a waiter reads the record again every `BACKSTOP_SECONDS` and once more
at its deadline.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from engine.keys import PROGRESS_CHANNEL

log = logging.getLogger(__name__)

BACKSTOP_SECONDS = 1.0
RESUBSCRIBE_SECONDS = 1.0
IDLE_READ_SECONDS = 30.0


class ProgressWatch:
    """Wakes `wait_until` callers when the engine reports their verification's progress."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._subscribed = asyncio.Event()  # a new one each time the reader starts
        self._reader: asyncio.Task | None = None

    async def wait_until(self, verification_id: str, known: Callable[[], Awaitable[bool]],
                         bound: float) -> bool:
        """Wait up to `bound` seconds until `known()` is true; its last answer.

        `known` reads the record; it runs once subscribed, again on each
        message for this verification, and at least every BACKSTOP_SECONDS.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + bound
        woken = asyncio.Event()
        self._waiters.setdefault(verification_id, set()).add(woken)
        try:
            await self._subscribe(min(BACKSTOP_SECONDS, deadline - loop.time()))
            while True:
                woken.clear()  # before the read: a message during it wakes the next wait
                if await known():
                    return True
                left = deadline - loop.time()
                if left <= 0:
                    return False
                try:
                    await asyncio.wait_for(woken.wait(), min(left, BACKSTOP_SECONDS))
                except TimeoutError:
                    pass
        finally:
            waiting = self._waiters.get(verification_id)
            if waiting is not None:
                waiting.discard(woken)
                if not waiting:
                    del self._waiters[verification_id]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    async def _subscribe(self, timeout: float) -> None:
        """Start the reader if needed; wait (bounded) until the subscription holds,
        so no report made after this returns is missed (the backstop read
        covers a subscription that is not there in time)."""
        if self._reader is None:
            self._subscribed = asyncio.Event()
            self._reader = asyncio.get_running_loop().create_task(self._read())
        try:
            await asyncio.wait_for(self._subscribed.wait(), max(0.0, timeout))
        except TimeoutError:
            pass

    async def _read(self) -> None:
        while True:
            pubsub: PubSub = self._redis.pubsub()
            try:
                await pubsub.subscribe(PROGRESS_CHANNEL)
                while True:
                    # A read timeout of its own: the client's socket_timeout is for commands.
                    message = await pubsub.get_message(timeout=IDLE_READ_SECONDS)
                    if message is not None:
                        self._dispatch(message)
            except Exception as exc:  # Redis down, or refused (e.g. an ACL without SUBSCRIBE)
                self._subscribed.clear()
                log.warning("progress subscription lost (%s); waiters read the record every %.0f s "
                            "until it is back", type(exc).__name__, BACKSTOP_SECONDS)
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
            finally:
                await pubsub.aclose()

    def _dispatch(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            self._subscribed.set()
        elif kind == "message":
            vid = message["data"].decode()
            for woken in self._waiters.get(vid, ()):
                woken.set()
