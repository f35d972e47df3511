"""Retention over a real Redis: every record the API, the verdict and the
deliverer write expires after CALLVERIFY_RETENTION_DAYS, a password call's
spoken code is gone once its verdict is given, the dead list is trimmed by
age, and a purged verification is not written back by its call."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from redis.asyncio import Redis

from engine import records
from engine.delivery import DEAD, DUE, Deliverer
from engine.flows.call import CallRecord
from engine.keys import delivery_key, flood_key, number_index, verification_key
from engine.outcome import BILLING, CallOutcome
from engine.retention import DAY_SECONDS, purge_number
from engine.store import Store
from engine.verification import Verification
from tests.integration.api_harness import ServedApi, serve_api

DAYS = 3  # not the default (7), so the setting is seen to be used
RETENTION = DAYS * DAY_SECONDS
PASSWORD_CALL = "/api/protected/api/auth/passwordcall"
WEBHOOK = "http://crm.example/cdr"


class Client(ServedApi):
    DEFAULT_CREDITS = 1000
    ACCOUNT_SECRET = "api_key"

    async def reverse_verify(self, api_key: str) -> str:
        params = {"api_key": api_key, "phone_number": "5551234567", "country_code": "1",
                  "code": "739164", "callback_url": "http://site.example/cb.php"}
        async with self.http.get(self.base_url + "/api/reverse_verify/", params=params) as resp:
            return await resp.text()

    async def password_call(self, token: str) -> tuple[int, dict]:
        body = {"phone_number": "421222202004", "verification_code": "1234"}
        async with self.http.post(self.base_url + PASSWORD_CALL, json=body,
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def api(clean_redis) -> Client:
    async with serve_api(clean_redis, Client, retention_days=DAYS) as start:
        yield await start()


def assert_kept_for_retention(ttl: int) -> None:
    assert RETENTION - 60 < ttl <= RETENTION, ttl


async def members(redis: Redis, key: str) -> set[str]:
    return {m.decode() for m in await redis.smembers(key)}


async def test_an_accepted_verification_expires_even_if_never_called(api):
    account_id, api_key = await api.account()
    assert await api.reverse_verify(api_key) == "0"
    [verification] = await api.verifications()
    assert verification["status"] == "queued"  # no engine: it stays queued
    key, index = verification_key(verification["id"]), number_index("15551234567")
    assert_kept_for_retention(await api.redis.ttl(key))
    assert_kept_for_retention(await api.redis.ttl(index))
    assert await members(api.redis, index) == {key, flood_key(account_id, "15551234567")}


async def test_a_refused_password_call_and_its_webhook_expire(api):
    new = await api.store.accounts.create("acme", 0)
    await api.store.accounts.set_webhook(new.account_id, "password_call", WEBHOOK,
                                         ["q931_status", "caller_number"])
    status, body = await api.password_call(new.token)
    assert (status, body["error"]) == (402, "insufficient balance")
    [verification] = await api.verifications()
    assert verification["status"] == "done"
    assert "spoken_code" not in verification and "caller_number" not in verification
    [delivery_id] = [d.decode() for d in await api.redis.zrange(DUE, 0, -1)]
    webhook = json.loads(await api.redis.hget(delivery_key(delivery_id), "body"))
    assert webhook == {"q931_status": 41, "caller_number": "42122221234"}
    key, index = verification_key(verification["id"]), number_index("421222202004")
    for kept in (key, delivery_key(delivery_id), index):
        assert_kept_for_retention(await api.redis.ttl(kept))
    assert await members(api.redis, index) == {key, delivery_key(delivery_id)}


def password_verification(webhook_url: str) -> Verification:
    return Verification(flow="password_call", phone_number="421222202004",
                        caller_number="42122221234", spoken_code="1234", price=1,
                        money_scale=10000, webhook_url=webhook_url,
                        webhook_fields=json.dumps(["q931_status", "caller_number"]))


async def test_the_verdict_drops_the_code_and_keeps_the_rest_for_retention(redis):
    """The code is spoken and ends the calling number: both go at the verdict,
    which has put the calling number in the webhook the seed defines."""
    store = Store(redis, retention_seconds=RETENTION)
    account = await store.accounts.create("acme", 10)
    result, vid, *_ = await store.verifications.accept(
        account.account_id, "421222202004", password_verification(WEBHOOK), price=1,
        flood_seconds=60, max_queue_seconds=60)
    assert result == "accepted"
    taken, _ = await store.verifications.take(vid, "cvtest." + vid)
    assert taken is not None and taken.spoken_code == "1234"  # what the call speaks
    start = time.time() - 20
    outcome = CallOutcome(answered=True, cause=16, placed_at=start, answered_at=start + 5,
                          ended_at=start + 12)
    assert await records.give_verdict(store, taken, outcome)
    stored = {k.decode(): v.decode() for k, v in (await redis.hgetall(verification_key(vid))).items()}
    assert "spoken_code" not in stored and "caller_number" not in stored
    assert stored["status"] == "done" and stored["phone_number"] == "421222202004"
    assert_kept_for_retention(await redis.ttl(verification_key(vid)))
    [delivery_id] = [d.decode() for d in await redis.zrange(DUE, 0, -1)]
    assert_kept_for_retention(await redis.ttl(delivery_key(delivery_id)))
    assert delivery_key(delivery_id) in await members(redis, number_index("421222202004"))
    body = json.loads(await redis.hget(delivery_key(delivery_id), "body"))
    assert body == {"q931_status": 16, "caller_number": "42122221234"}


async def until(check, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_refused_record_and_its_given_up_delivery_expire(redis):
    store = Store(redis, retention_seconds=RETENTION)
    account = await store.accounts.create("acme", 10)
    vid = await store.verifications.record_refused(
        account.account_id, "421222202004", password_verification("http://127.0.0.1:9/cdr"))
    # Kept for the retention time from the start (before its verdict), with no code.
    assert_kept_for_retention(await redis.ttl(verification_key(vid)))
    assert_kept_for_retention(await redis.ttl(number_index("421222202004")))
    refused = await store.verifications.get(vid)
    assert refused is not None and refused.spoken_code == ""
    assert await records.give_verdict(store, refused, CallOutcome(failure=BILLING, cause=41))
    worker = Deliverer(redis, retention_seconds=RETENTION)  # 127.0.0.1: refused by the egress guard
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        await until(lambda: redis.zcard(DEAD))
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    [delivery_id] = [d.decode() for d in await redis.zrange(DEAD, 0, -1)]
    assert (await redis.hget(delivery_key(delivery_id), "last_error")).startswith(b"egress")
    assert_kept_for_retention(await redis.ttl(delivery_key(delivery_id)))


async def test_the_deliverer_trims_the_dead_list_past_retention(redis):
    """Entries given up over the retention time ago go, with their hashes
    (written before records had a lifetime, so never expiring on their own);
    the rest stay."""
    hour = 3600
    now = time.time()
    old = [f"old{i}" for i in range(1200)]  # more than one trimming batch
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in [*old, "recent"]:
            pipe.hset(delivery_key(delivery_id), mapping={
                "method": "GET", "url": "http://site.example/cb?secret=s", "attempts": "9",
                "created_at": str(now - 2 * hour)})
        pipe.zadd(DEAD, dict.fromkeys(old, now - hour - 60))
        pipe.zadd(DEAD, {"recent": now - hour + 60})
        await pipe.execute()
    worker = Deliverer(redis, retention_seconds=hour)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        await until(lambda: _dead_is(redis, [b"recent"]))
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert not await redis.exists(*[delivery_key(d) for d in old])
    assert await redis.hget(delivery_key("recent"), "attempts") == b"9"


async def _dead_is(redis: Redis, expected: list[bytes]) -> bool:
    return await redis.zrange(DEAD, 0, -1) == expected


async def test_a_call_whose_records_were_purged_writes_nothing_back(redis):
    """Purged while its call is up: its progress, verdict (and callback) and
    close are not stored, so nothing of it comes back, with or without a TTL."""
    store = Store(redis, retention_seconds=RETENTION)
    account = await store.accounts.create("acme", 10)
    _, vid, *_ = await store.verifications.accept(
        account.account_id, "421222202004", password_verification(WEBHOOK), price=1,
        flood_seconds=60, max_queue_seconds=60)
    taken, _ = await store.verifications.take(vid, "cvtest." + vid)
    assert taken is not None
    assert (await purge_number(redis, "421222202004")).verifications == 1
    await store.verifications.report_progress(vid, "answered", False, notify=True)
    assert not await records.give_verdict(store, taken, CallOutcome(answered=True, cause=16))
    await records.close_call(store, vid, CallRecord("cvtest." + vid, ended_at=time.time(),
                                                    cause=16, hung_up_by="us"))
    assert await redis.keys("cv:verification:*") == []
    assert await redis.keys("cv:delivery:*") == [] and await redis.zcard(DUE) == 0
    assert not await redis.exists(number_index("421222202004"))
