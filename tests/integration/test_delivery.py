"""The delivery worker against a real Redis and a real HTTP endpoint."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.asyncio import Redis

from engine.delivery import DEAD, DUE, WAKE, Deliverer, delivery_key
from engine.delivery_record import new_delivery
from tests.integration.conftest import LOCAL


async def queue(redis: Redis, delivery: dict) -> None:
    """What FINISH_LUA does for each delivery of a finished verification."""
    await redis.hset(delivery_key(delivery["id"]), mapping=delivery["fields"])
    await redis.zadd(DUE, {delivery["id"]: delivery["due"]})
    await redis.rpush(WAKE, delivery["id"])


@pytest.fixture
async def deliverer(redis):
    worker = Deliverer(redis, timeout=2, backoff_base=30, give_up_seconds=3600, egress_allow=LOCAL)
    task = asyncio.get_running_loop().create_task(worker.run())
    yield worker
    worker.stop()
    await asyncio.wait_for(task, 10)


async def test_sent_once_then_forgotten(redis, deliverer, callbacks):
    get = new_delivery("GET", callbacks.url, params={"match": "1"})
    post = new_delivery("POST", callbacks.url, payload={"q931_status": 16})
    await queue(redis, get)
    await queue(redis, post)
    received = [await callbacks.next(timeout=10), await callbacks.next(timeout=10)]
    by_method = {r["method"]: r for r in received}
    assert by_method["GET"]["query"] == {"match": "1"}
    assert json.loads(by_method["POST"]["body"]) == {"q931_status": 16}
    await asyncio.sleep(0.3)
    assert await redis.zcard(DUE) == 0
    assert not await redis.exists(delivery_key(get["id"]), delivery_key(post["id"]))
    assert await redis.llen(WAKE) == 0  # the lease took every wake-up with it
    assert callbacks.requests.empty()


async def test_a_due_id_without_its_record_is_dropped(redis, deliverer, callbacks):
    await redis.zadd(DUE, {"gone": time.time()})
    await redis.rpush(WAKE, "gone")
    ok = new_delivery("GET", callbacks.url, params={"n": "1"})
    await queue(redis, ok)
    assert (await callbacks.next(timeout=10))["query"] == {"n": "1"}
    await asyncio.sleep(0.3)
    assert await redis.zcard(DUE) == 0
    assert callbacks.requests.empty()


async def test_a_damaged_record_goes_to_the_dead_list_and_the_rest_is_sent(redis, deliverer,
                                                                          callbacks):
    """A hash with a field missing or not a number stops neither the lease
    loop nor the deliveries leased with it."""
    damaged = {"no-url": {"method": "GET", "attempts": "0", "created_at": "1"},
               "bad-attempts": {"method": "GET", "url": callbacks.url, "attempts": "x",
                                "created_at": "1"}}
    for delivery_id, fields in damaged.items():
        await redis.hset(delivery_key(delivery_id), mapping=fields)
        await redis.zadd(DUE, {delivery_id: time.time()})
    await queue(redis, new_delivery("GET", callbacks.url, params={"n": "2"}))
    assert (await callbacks.next(timeout=10))["query"] == {"n": "2"}
    for _ in range(50):
        if await redis.zcard(DEAD) == 2:
            break
        await asyncio.sleep(0.1)
    assert sorted(await redis.zrange(DEAD, 0, -1)) == [b"bad-attempts", b"no-url"]
    for delivery_id in damaged:
        error = (await redis.hget(delivery_key(delivery_id), "last_error")).decode()
        assert "a damaged record" in error
    assert await redis.zcard(DUE) == 0 and callbacks.requests.empty()


async def test_a_refused_delivery_is_kept_and_rescheduled(redis, deliverer, callbacks):
    callbacks.statuses = [500]
    failing = new_delivery("GET", callbacks.url, params={"n": "1"})
    await queue(redis, failing)
    assert (await callbacks.next(timeout=10))["status"] == 500
    await asyncio.sleep(0.3)
    record = await redis.hgetall(delivery_key(failing["id"]))
    assert record[b"attempts"] == b"1" and record[b"last_error"] == b"HTTP 500"
    due = await redis.zscore(DUE, failing["id"])
    assert 22 < due - time.time() < 37  # backoff 30 s +-20 %, less the time since the attempt


async def test_given_up_after_the_give_up_time(redis, callbacks):
    worker = Deliverer(redis, timeout=2, backoff_base=30, give_up_seconds=0, egress_allow=LOCAL)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        callbacks.statuses = [503]
        doomed = new_delivery("GET", callbacks.url)
        await queue(redis, doomed)
        await callbacks.next(timeout=10)
        await asyncio.sleep(0.3)
        assert await redis.zcard(DUE) == 0
        assert await redis.zscore(DEAD, doomed["id"]) is not None
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
