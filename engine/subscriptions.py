"""Following a Redis pub/sub channel for as long as a part runs.

The subscription is made again after any failure (Redis down, or refused,
e.g. an ACL without SUBSCRIBE), a second later. `on_subscribe` runs each
time the subscription holds (Redis confirms it), so whatever was announced
while it was down can be read from the records then; `on_message` runs for
each message, with its text.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

log = logging.getLogger(__name__)

RESUBSCRIBE_SECONDS = 1.0
# A read timeout of its own: the client's socket_timeout is for commands.
READ_SECONDS = 1.0


async def follow_channel(redis: Redis, channel: str, done: asyncio.Event, *,
                         on_subscribe: Callable[[], Awaitable[None]],
                         on_message: Callable[[str], Awaitable[None]], what: str) -> None:
    """Until `done` is set; `what` names the subscription in the log."""
    while not done.is_set():
        pubsub = redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            while not done.is_set():
                message = await pubsub.get_message(timeout=READ_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    await on_subscribe()
                elif message["type"] == "message":
                    data = message["data"]
                    await on_message(data.decode() if isinstance(data, bytes) else str(data))
        except Exception as exc:  # Redis down, or refused (e.g. an ACL without SUBSCRIBE)
            log.warning("%s subscription lost (%s); subscribing again", what,
                        type(exc).__name__)
            try:
                await asyncio.wait_for(done.wait(), RESUBSCRIBE_SECONDS)
            except TimeoutError:
                pass
        finally:
            await pubsub.aclose()
