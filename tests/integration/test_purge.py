"""`callverify purge NUMBER` (the real console script) against a real Redis:
every record of that number goes, from any account and in any state; another
number's records and the do-not-call list stay."""
from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from engine import records
from engine.delivery import DEAD, DUE, Deliverer
from engine.keys import DNC, delivery_key, flood_key, number_index, verification_key
from engine.outcome import BILLING, CallOutcome
from engine.store import Store
from engine.verification import Verification
from tests.integration.api_harness import callverify

PERSON, OTHER = "421222202004", "447911123456"


def password_verification(number: str, webhook_url: str) -> Verification:
    return Verification(flow="password_call", phone_number=number, caller_number="42122221234",
                        spoken_code="1234", price=1, money_scale=10000, webhook_url=webhook_url)


async def called(store: Store, account_id: str, number: str, *, flood_seconds: int = 60,
                 verdict: bool = True) -> str:
    """An accepted password call to `number`; with `verdict`, finished, its webhook due."""
    result, vid, *_ = await store.verifications.accept(
        account_id, number, password_verification(number, "http://crm.example/cdr"), price=1,
        flood_seconds=flood_seconds, max_queue_seconds=60)
    assert result == "accepted"
    if verdict:
        verification = await store.verifications.get(vid)
        assert verification is not None
        assert await records.give_verdict(store, verification, CallOutcome(answered=True, cause=16))
    return vid


async def given_up(redis: Redis, store: Store, account_id: str, number: str) -> str:
    """A refused call to `number` whose webhook was given up (on the dead list)."""
    vid = await store.verifications.record_refused(
        account_id, number, password_verification(number, "http://127.0.0.1:9/cdr"))
    verification = await store.verifications.get(vid)
    assert verification is not None
    assert await records.give_verdict(store, verification, CallOutcome(failure=BILLING, cause=41))
    worker = Deliverer(redis)  # a receiver on 127.0.0.1: refused by the egress guard
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        for _ in range(200):
            if await redis.zcard(DEAD):
                break
            await asyncio.sleep(0.05)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert await redis.zcard(DEAD) == 1
    return vid


async def keys(redis: Redis) -> set[str]:
    return {key.decode() async for key in redis.scan_iter()}


async def ids(redis: Redis, key: str) -> set[str]:
    return {member.decode() for member in await redis.zrange(key, 0, -1)}


async def test_purge_removes_every_record_of_the_number_and_nothing_else(redis, cli_env):
    store = Store(redis)
    first = await store.accounts.create("first", 100)
    second = await store.accounts.create("second", 100)
    dead_vid = await given_up(redis, store, second.account_id, PERSON)
    [dead_delivery] = await ids(redis, DEAD)
    finished_vid = await called(store, first.account_id, PERSON, flood_seconds=1)
    [pending_delivery] = await ids(redis, DUE)
    await asyncio.sleep(1.1)  # the flood mark of the first call is gone
    queued_vid = await called(store, second.account_id, PERSON, verdict=False)
    other_vid = await called(store, first.account_id, OTHER)
    callverify(cli_env, "dnc", "add", PERSON)
    before = await keys(redis)

    purged = json.loads(callverify(cli_env, "purge", "+" + PERSON))

    assert purged == {"number": PERSON, "verifications": 3, "deliveries": 2, "flood_marks": 1,
                      "do_not_call": True}
    gone = {verification_key(vid) for vid in (dead_vid, finished_vid, queued_vid)}
    gone |= {delivery_key(dead_delivery), delivery_key(pending_delivery),
             flood_key(second.account_id, PERSON),
             number_index(PERSON), DEAD}  # (the dead list held only the person's)
    assert gone <= before
    assert await keys(redis) == before - gone
    assert await ids(redis, DEAD) == set()
    assert pending_delivery not in await ids(redis, DUE) and len(await ids(redis, DUE)) == 1
    assert await redis.sismember(DNC, PERSON)  # the person's own request stays
    assert (await store.verifications.get(other_vid)).status == "done"
    # Nothing left to remove; a purge prints counts only.
    again = callverify(cli_env, "purge", PERSON)
    assert json.loads(again) == {"number": PERSON, "verifications": 0, "deliveries": 0,
                                 "flood_marks": 0, "do_not_call": True}
    assert "1234" not in again


def test_purge_refuses_what_is_not_a_number(cli_env):
    error = callverify(cli_env, "purge", "42a", expect=2)
    assert "not an E.164 number" in error
