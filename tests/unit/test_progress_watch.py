"""The progress watch when its subscription cannot be had: waiters still get
their answer from the backstop read, within their bound."""
from __future__ import annotations

import asyncio
import logging

from redis.exceptions import ConnectionError as RedisConnectionError

from api import progress
from api.progress import ProgressWatch


class RefusingPubSub:
    async def subscribe(self, *channels):
        raise RedisConnectionError("down")

    async def aclose(self):
        pass


class RefusingRedis:
    def pubsub(self):
        return RefusingPubSub()


async def test_a_lost_subscription_falls_back_to_reading_the_record(monkeypatch, caplog):
    monkeypatch.setattr(progress, "BACKSTOP_SECONDS", 0.05)
    monkeypatch.setattr(progress, "RESUBSCRIBE_SECONDS", 10)
    watch = ProgressWatch(RefusingRedis())
    reads = []

    async def known() -> bool:
        reads.append(1)
        return len(reads) == 3

    with caplog.at_level(logging.WARNING, logger="api.progress"):
        assert await asyncio.wait_for(watch.wait_until("v1", known, bound=5), 2) is True
        assert await watch.wait_until("v2", lambda: asyncio.sleep(0, False), bound=0.2) is False
    await watch.close()
    assert len(reads) == 3
    assert [r.message for r in caplog.records].count(
        "progress subscription lost (ConnectionError); waiters read the record every 0 s "
        "until it is back") == 1
