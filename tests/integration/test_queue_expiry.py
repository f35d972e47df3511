"""Jobs the engine does not dial, over a real Redis and the real API, with an
engine whose ARI was never connected (a job it dialled would fail to
originate, not end as asserted here).

A verification accepted longer ago than CALLVERIFY_MAX_QUEUE_SECONDS, or
whose account was disabled since, ends failed (callback reason 0; webhook
q931_status 47, final_status CANCEL, cost 0) and its price is refunded with
the verdict: once, also when two engines race for it.
"""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from redis.asyncio import Redis

from engine import records
from engine.ari.client import AriClient
from engine.delivery import DUE, delivery_key
from engine.engine_capacity import TTL_SECONDS
from engine.keys import CALLS_GROUP, CALLS_STREAM, ENGINE_CAPACITY, verification_key
from engine.outcome import ACCOUNT_DISABLED, EXPIRED, CallOutcome
from engine.settings import Settings
from engine.store import Store
from engine.verification import Verification
from engine.worker import Engine
from tests.conftest import free_port
from tests.integration.api_harness import callverify, cli_environment, serve_api
from tests.integration.test_api_password_call import PasswordCallClient
from tests.integration.test_api_return_codes import ApiClient

MAX_QUEUE_SECONDS = 60
PRICE = 3
CALLBACK = "http://site.example/cb.php"


def engine_for(redis: Redis, redis_url: str, name: str) -> Engine:
    settings = Settings().replace(
        redis_url=redis_url, consumer_name=name, ari_app="cvtest",
        ari_url=f"http://127.0.0.1:{free_port()}", max_queue_seconds=MAX_QUEUE_SECONDS)
    ari = AriClient(settings.ari_url, "nobody", "nothing", settings.ari_app)
    return Engine(settings, redis, Store(redis), ari)


@pytest.fixture
async def engine(redis, clean_redis):
    engine = engine_for(redis, clean_redis, "engine-a")
    await engine.queue.ensure_group()
    yield engine
    await engine.ari.stop()


async def handle_queued(*engines: Engine) -> None:
    """Each engine takes the jobs queued (the later ones claim what the first
    took) and handles them, all at once."""
    first, *others = engines
    jobs = {first: await first.queue.take(count=10, block_ms=100)}
    for other in others:
        jobs[other] = await other.queue.claim_stale(0)
    for engine, taken in jobs.items():
        for job in taken:
            await engine._start(job)
    await asyncio.gather(*(task for engine in engines for task in list(engine._tasks)))


@pytest.fixture
async def verify_api(clean_redis):
    async with serve_api(clean_redis, ApiClient, call_price=PRICE) as start:
        yield await start()


@pytest.fixture
async def call_api(clean_redis):
    async with serve_api(clean_redis, PasswordCallClient) as start:
        yield await start()


async def accepted(api: ApiClient, credits: int = 10) -> tuple[str, str]:
    """A reverse verification accepted through the API: (account id, verification id)."""
    account_id, api_key = await api.account(credits=credits)
    assert await api.verify(api_key, "5551234567", callback_url=CALLBACK) == "0"
    [stored] = await api.verifications()
    assert await api.credits(account_id) == credits - PRICE
    return account_id, stored["id"]


async def age(redis: Redis, verification_id: str, seconds: float) -> None:
    """As if accepted `seconds` ago."""
    await redis.hset(verification_key(verification_id), "created_at",
                     f"{time.time() - seconds:.3f}")


async def stored(redis: Redis, verification_id: str) -> dict[str, str]:
    raw = await redis.hgetall(verification_key(verification_id))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def the_delivery(redis: Redis) -> dict[str, str]:
    [delivery_id] = await redis.zrange(DUE, 0, -1)
    raw = await redis.hgetall(delivery_key(delivery_id.decode()))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def assert_queue_empty(redis: Redis) -> None:
    assert await redis.xlen(CALLS_STREAM) == 0
    assert (await redis.xpending(CALLS_STREAM, CALLS_GROUP))["pending"] == 0


@pytest.mark.parametrize("failure", [EXPIRED, ACCOUNT_DISABLED])
async def test_a_job_too_old_or_of_a_disabled_account_is_not_dialled_and_is_refunded(
        verify_api, engine, redis, failure, clean_redis, tmp_path):
    account_id, vid = await accepted(verify_api)
    if failure == EXPIRED:
        await age(redis, vid, MAX_QUEUE_SECONDS + 1)
    else:  # disabled by the operator after the request was accepted
        callverify(cli_environment(clean_redis, tmp_path), "account", "disable", account_id)
    await handle_queued(engine)
    record = await stored(redis, vid)
    assert record["status"] == "done" and record["outcome_failure"] == failure
    assert "channel_id" not in record and record["outcome_placed_at"] == "0.0"
    assert record["refunded"] == str(PRICE)
    assert await verify_api.credits(account_id) == 10
    await assert_queue_empty(redis)
    callback = parse_qs(urlsplit((await the_delivery(redis))["url"]).query)
    assert callback["reason"] == ["0"] and callback["answered"] == ["0"]
    assert callback["match"] == ["0"]


async def test_a_job_within_the_window_of_an_enabled_account_is_taken_for_its_call(
        verify_api, redis):
    _, vid = await accepted(verify_api)
    await age(redis, vid, MAX_QUEUE_SECONDS - 2)
    verification, not_dialled = await verify_api.store.verifications.take(
        vid, "cvtest." + vid, accepted_after=time.time() - MAX_QUEUE_SECONDS)
    assert not_dialled == "" and verification.status == "queued"
    record = await stored(redis, vid)
    assert record["status"] == "calling" and record["channel_id"] == "cvtest." + vid


async def test_an_expired_password_call_tells_the_webhook_47_cancel_and_costs_nothing(
        call_api, engine, redis):
    account_id, token = await call_api.account(credits=1000)
    await call_api.store.accounts.set_webhook(account_id, "password_call", CALLBACK, [])
    status, body, _ = await call_api.post(token, {"phone_number": "421222202004",
                                                  "verification_code": "1234"})
    assert status == 200
    assert await call_api.credits(account_id) == 1000 - 83
    vid = body["verification_uuid"].split("_")[0]
    await age(redis, vid, MAX_QUEUE_SECONDS + 1)
    await handle_queued(engine)
    assert await call_api.credits(account_id) == 1000
    payload = json.loads((await the_delivery(redis))["body"])
    assert payload["q931_status"] == 47 and payload["final_status"] == "CANCEL"
    assert payload["cost"] == 0 and payload["start_time"] is None


async def test_two_engines_racing_for_an_expired_job_refund_it_once(
        verify_api, engine, redis, clean_redis):
    other = engine_for(redis, clean_redis, "engine-b")
    try:
        account_id, vid = await accepted(verify_api)
        await age(redis, vid, MAX_QUEUE_SECONDS + 1)
        await handle_queued(engine, other)
    finally:
        await other.ari.stop()
    assert await verify_api.credits(account_id) == 10
    assert await redis.zcard(DUE) == 1  # one callback
    await assert_queue_empty(redis)


async def test_concurrent_refunding_verdicts_give_one_verdict_and_one_refund(verify_api, redis):
    account_id, vid = await accepted(verify_api)
    verification = await verify_api.store.verifications.get(vid)
    store = Store(redis)
    given = await asyncio.gather(*(
        records.give_verdict(store, verification, CallOutcome(failure=EXPIRED), refund=True)
        for _ in range(5)))
    assert sorted(given) == [False] * 4 + [True]
    assert await verify_api.credits(account_id) == 10
    assert (await stored(redis, vid))["refunded"] == str(PRICE)


async def test_a_verification_taken_for_a_call_meanwhile_gets_no_refund(verify_api, redis):
    account_id, vid = await accepted(verify_api)
    verification = await verify_api.store.verifications.get(vid)
    await redis.hset(verification_key(vid), "status", "calling")  # another engine dials it
    assert not await records.give_verdict(Store(redis), verification,
                                          CallOutcome(failure=EXPIRED), refund=True)
    assert await verify_api.credits(account_id) == 10 - PRICE
    assert (await stored(redis, vid))["status"] == "calling"
    assert await redis.zcard(DUE) == 0


async def test_the_refund_is_taken_off_the_hours_spend(verify_api, engine, redis):
    account_id, api_key = await verify_api.account(credits=10)
    await verify_api.store.accounts.set_spend_limit(account_id, PRICE)
    assert await verify_api.verify(api_key, "5551234567") == "0"
    assert await verify_api.verify(api_key, "5551234568") == "2"  # over the hour's limit
    [record] = await verify_api.verifications()
    await age(redis, record["id"], MAX_QUEUE_SECONDS + 1)
    await handle_queued(engine)
    assert await verify_api.store.accounts.spent_this_hour(account_id) == 0
    assert await verify_api.verify(api_key, "5551234568") == "0"


async def test_a_verification_stored_before_prices_were_kept_expires_without_refund(
        engine, redis):
    """(A record from before this version has no `price`: nothing to give back.)"""
    await redis.hset(verification_key("v1"), mapping={
        **Verification(flow="reverse_verify", id="v1", account_id="100001", status="queued",
                       created_at=time.time() - MAX_QUEUE_SECONDS - 1).to_hash()})
    await redis.hset("cv:account:100001", mapping={"credits": 0, "disabled": 0})
    await redis.xadd(CALLS_STREAM, {"verification_id": "v1"})
    await handle_queued(engine)
    assert (await stored(redis, "v1"))["outcome_failure"] == EXPIRED
    assert await redis.hget("cv:account:100001", "credits") == b"0"


async def test_a_running_engine_keeps_its_capacity_in_redis_and_withdraws_it(engine, redis):
    running = asyncio.get_running_loop().create_task(engine.run())
    try:
        for _ in range(50):
            if await redis.hexists(ENGINE_CAPACITY, "engine-a"):
                break
            await asyncio.sleep(0.05)
        word = (await redis.hget(ENGINE_CAPACITY, "engine-a")).decode()
        live_until, rate, free = word.split()
        now, _ = await redis.time()
        assert 0 < int(live_until) - now <= TTL_SECONDS
        assert (rate, free) == ("0.000", "0")  # ARI away: it starts nothing
    finally:
        engine.stop_taking()
        await asyncio.wait_for(running, 10)
    assert not await redis.hexists(ENGINE_CAPACITY, "engine-a")
