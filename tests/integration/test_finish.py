"""The end of a verification over a real Redis: the verdict acknowledges its job
in the same step and hands its callback to the process's own deliverer; the
close of the call writes its end and nothing else."""
from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from engine import records
from engine.delivery import DUE, WAKE, Deliverer, delivery_key
from engine.delivery_record import LEASE_SECONDS, new_delivery
from engine.flows.call import CallRecord
from engine.keys import CALLS_GROUP, CALLS_STREAM, verification_key
from engine.outcome import CallOutcome
from engine.store import Store
from engine.verification import Verification
from tests.integration.conftest import LOCAL


async def running(worker: Deliverer) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(worker.run())
    while not worker.taking:
        await asyncio.sleep(0.01)
    return task


async def stopped(worker: Deliverer, task: asyncio.Task) -> None:
    worker.stop()
    await asyncio.wait_for(task, 10)


@pytest.fixture
async def other_worker(redis):
    """A deliverer in some other process: it sends whatever is due."""
    worker = Deliverer(redis, timeout=2, backoff_base=30, egress_allow=LOCAL)
    task = await running(worker)
    yield worker
    await stopped(worker, task)


async def calling(redis: Redis, callback_url: str, vid: str = "v1") -> Verification:
    """A verification being called; stored under the flow name older records carry."""
    fields = {"id": vid, "flow": "dtmf", "status": "calling", "account_id": "100001",
              "phone_number": "2025550123", "country_code": "1", "secret": "s",
              "callback_url": callback_url}
    await redis.hset(verification_key(vid), mapping=fields)
    return Verification.from_hash(fields)


def matched() -> CallOutcome:
    return CallOutcome(answered=True, matched=True, attempts=1, digits_count=4)


async def test_a_finishing_process_sends_its_callback_itself(redis, other_worker, callbacks):
    courier = Deliverer(redis, timeout=2, backoff_base=30, egress_allow=LOCAL)
    task = await running(courier)
    try:
        callbacks.hold = asyncio.Event()
        verification = await calling(redis, callbacks.url)
        assert await records.give_verdict(Store(redis), verification, matched(), courier=courier)
        sent = await callbacks.next(timeout=5)
        assert sent["query"]["match"] == "1" and sent["query"]["secret"] == "s"
        # In flight: stored leased to the courier, with no wake-up for anyone else.
        (delivery_id, due), = await redis.zrange(DUE, 0, -1, withscores=True)
        assert due - time.time() > LEASE_SECONDS - 5
        assert await redis.llen(WAKE) == 0
        await asyncio.sleep(1.5)  # the other worker polls every 0.5 s
        assert callbacks.requests.empty(), "sent twice"
        callbacks.hold.set()
        for _ in range(50):
            if not await redis.exists(delivery_key(delivery_id.decode())):
                break
            await asyncio.sleep(0.1)
        assert await redis.zcard(DUE) == 0
        assert not await redis.exists(delivery_key(delivery_id.decode()))
    finally:
        await stopped(courier, task)


async def test_a_courier_that_is_not_running_leaves_the_callback_to_any_worker(
        redis, other_worker, callbacks):
    idle = Deliverer(redis, egress_allow=LOCAL)  # never started
    verification = await calling(redis, callbacks.url)
    assert await records.give_verdict(Store(redis), verification, matched(), courier=idle)
    assert (await callbacks.next(timeout=5))["query"]["match"] == "1"


async def test_a_callback_handed_over_too_late_is_given_back(redis, other_worker, callbacks):
    stopping = Deliverer(redis, egress_allow=LOCAL)
    task = await running(stopping)
    delivery = new_delivery("GET", callbacks.url, params={"n": "1"}, leased=True)
    await redis.hset(delivery_key(delivery["id"]), mapping=delivery["fields"])
    await redis.zadd(DUE, {delivery["id"]: delivery["due"]})
    await stopped(stopping, task)
    stopping.hand_over([delivery])  # e.g. a call that ended during shutdown
    assert (await callbacks.next(timeout=5))["query"] == {"n": "1"}


@pytest.mark.parametrize("finished_before", [False, True])
async def test_finishing_acknowledges_the_job(redis, callbacks, finished_before):
    await redis.xgroup_create(CALLS_STREAM, CALLS_GROUP, id="0", mkstream=True)
    await redis.xadd(CALLS_STREAM, {"verification_id": "v1"})
    await redis.xadd(CALLS_STREAM, {"verification_id": "v2"})
    (_, [(job_id, _), _]), = await redis.xreadgroup(CALLS_GROUP, "e", {CALLS_STREAM: ">"})
    store = Store(redis)
    verification = await calling(redis, callbacks.url)
    if finished_before:  # another engine gave the verdict (e.g. it found the call lost)
        assert await records.give_verdict(store, verification, matched())
    done = await records.give_verdict(store, verification, matched(), job_id=job_id.decode())
    assert done is not finished_before
    assert (await redis.xpending(CALLS_STREAM, CALLS_GROUP))["pending"] == 1  # v2's only
    assert await redis.xlen(CALLS_STREAM) == 1
    assert (await redis.hgetall(verification_key("v1")))[b"status"] == b"done"


async def test_the_close_of_a_call_after_its_verdict_writes_its_end_and_sends_nothing(
        redis, callbacks, monkeypatch):
    built = []
    real = records.notifications_for
    monkeypatch.setattr(records, "notifications_for",
                        lambda v, o: built.append(v.id) or real(v, o))
    await redis.xgroup_create(CALLS_STREAM, CALLS_GROUP, id="0", mkstream=True)
    await redis.xadd(CALLS_STREAM, {"verification_id": "v1"})
    (_, [(job_id, _)]), = await redis.xreadgroup(CALLS_GROUP, "e", {CALLS_STREAM: ">"})
    store = Store(redis)
    verification = await calling(redis, callbacks.url)
    # The verdict, before the goodbye: the job is acknowledged with it.
    assert await records.give_verdict(store, verification, matched(), job_id=job_id.decode())
    assert (await redis.xpending(CALLS_STREAM, CALLS_GROUP))["pending"] == 0
    ended = CallRecord("cvtest.v1", ended_at=time.time(), cause=16, cause_txt="Normal Clearing",
                       hung_up_by="us")
    await records.close_call(store, "v1", ended)
    assert built == ["v1"]
    assert await redis.zcard(DUE) == 1
    stored = await redis.hgetall(verification_key("v1"))
    assert stored[b"outcome_cause"] == b"16" and stored[b"outcome_matched"] == b"1"
    assert stored[b"outcome_hung_up_by"] == b"us" and stored[b"status"] == b"done"
