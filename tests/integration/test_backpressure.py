"""Backpressure through the real API against a real Redis (no engine): the
backlog is simulated in the call queue, and the engines' capacity written as
engines write it (engine/engine_capacity.py CapacityReport).

A request the engines cannot start within CALLVERIFY_MAX_QUEUE_SECONDS gets
reverse verify's 9 (HTTP 503) or the password call's 503 "busy", both with a
Retry-After, and nothing is charged, stored or queued; with room, 0 / 200 as
before. The stream's bound never trims an accepted job.
"""
from __future__ import annotations

import pytest
from redis.asyncio import Redis

from engine.backpressure import BACKLOG_FLOOR, QUEUE_ROOM_LUA
from engine.delivery import DUE
from engine.engine_capacity import CapacityReport
from engine.keys import CALLS_GROUP, CALLS_STREAM, ENGINE_CAPACITY, flood_key
from tests.bench.frontdoor import stand_in_engine
from tests.integration.api_harness import serve_api
from tests.integration.test_api_password_call import PasswordCallClient
from tests.integration.test_api_return_codes import ApiClient

WINDOW = 10  # CALLVERIFY_MAX_QUEUE_SECONDS in these tests
NUMBER = "5551234567"
OTHER_NUMBER = "5551234568"  # (not flood-marked by a request to NUMBER)


async def backlog(redis: Redis, jobs: int, *, taken: int = 0) -> list[bytes]:
    """`jobs` queued call jobs, the first `taken` of them taken by an engine
    (pending); their message ids."""
    await redis.xgroup_create(CALLS_STREAM, CALLS_GROUP, id="0", mkstream=True)
    ids = [await redis.xadd(CALLS_STREAM, {"verification_id": f"old{n}"}) for n in range(jobs)]
    if taken:
        await redis.xreadgroup(CALLS_GROUP, "engine-a", {CALLS_STREAM: ">"}, count=taken)
    return ids


async def engine_says(redis: Redis, rate: float, free: int, name: str = "engine-a") -> None:
    await CapacityReport(redis, name).publish(rate, free)


@pytest.fixture
async def verify_api(clean_redis):
    async with serve_api(clean_redis, ApiClient, max_queue_seconds=WINDOW) as start:
        yield await start()


@pytest.fixture
async def call_api(clean_redis):
    async with serve_api(clean_redis, PasswordCallClient, max_queue_seconds=WINDOW) as start:
        yield await start()


async def busy_answer(api: ApiClient, api_key: str,
                      number: str = NUMBER) -> tuple[int, str, str | None]:
    params = {"api_key": api_key, "phone_number": number, "country_code": "1",
              "code": "739164", "callback_url": "http://site.example/cb.php"}
    async with api.http.get(api.base_url + "/api/reverse_verify/", params=params) as resp:
        assert resp.content_type == "text/plain"
        return resp.status, await resp.text(), resp.headers.get("Retry-After")


async def test_reverse_verify_answers_9_with_503_and_retry_after_and_charges_nothing(verify_api):
    api = verify_api
    account_id, api_key = await api.account(credits=5)
    # One engine: no free slot, 1 call a second: it starts floor + 10 jobs in the window.
    await engine_says(api.redis, rate=1.0, free=0)
    await backlog(api.redis, BACKLOG_FLOOR + WINDOW)
    assert await busy_answer(api, api_key) == (503, "9", "1")
    assert await api.credits(account_id) == 5
    assert await api.verifications() == []
    assert await api.queued() == BACKLOG_FLOOR + WINDOW
    assert not await api.redis.exists(flood_key(account_id, "1" + NUMBER))
    # Twice the rate: room for ten more.
    await engine_says(api.redis, rate=2.0, free=0)
    assert await api.verify(api_key, NUMBER) == "0"
    assert await api.credits(account_id) == 4
    assert await api.queued() == BACKLOG_FLOOR + WINDOW + 1


async def test_free_slots_count_and_jobs_taken_are_not_backlog(verify_api):
    api = verify_api
    _, api_key = await api.account(credits=5)
    await engine_says(api.redis, rate=0.0, free=20)
    # 30 jobs taken (pending), and one short of floor + 20 not taken yet.
    ids = await backlog(api.redis, 30 + BACKLOG_FLOOR + 20 - 1, taken=30)
    assert await api.verify(api_key, NUMBER) == "0"
    # Every job queued before is still there: the stream's bound trimmed nothing.
    assert [i for i, _ in await api.redis.xrange(CALLS_STREAM)][:len(ids)] == ids
    assert await api.queued() == len(ids) + 1
    # Now at the bound; no calls started lately: try again after the window.
    assert await busy_answer(api, api_key, OTHER_NUMBER) == (503, "9", str(WINDOW))


async def test_with_no_engine_alive_only_the_floor_is_queued(verify_api):
    api = verify_api
    account_id, api_key = await api.account(credits=5)
    # An engine that has not spoken for its time to live counts for nothing.
    await api.redis.hset(ENGINE_CAPACITY, "engine-gone", "1000 50.000 200")
    await backlog(api.redis, BACKLOG_FLOOR - 1)
    assert await api.verify(api_key, NUMBER) == "0"
    assert await busy_answer(api, api_key, OTHER_NUMBER) == (503, "9", str(WINDOW))
    assert await api.credits(account_id) == 4


async def test_the_password_call_answers_503_busy_with_retry_after_and_stores_nothing(call_api):
    api = call_api
    account_id, token = await api.account(credits=1000)
    await api.store.accounts.set_webhook(account_id, "password_call", "http://crm.example/cdr",
                                         ["q931_status"])
    await engine_says(api.redis, rate=0.5, free=0)
    await backlog(api.redis, BACKLOG_FLOOR + 5)
    body = {"phone_number": "421222202004", "verification_code": "1234"}
    status, answer, headers = await api.post(token, body)
    assert (status, answer) == (503, {"ok": False, "error": "busy"})
    assert headers["Retry-After"] == "2"  # one job over the bound at 0.5 a second
    assert await api.credits(account_id) == 1000
    assert await api.verifications() == []
    assert await api.redis.zcard(DUE) == 0  # no webhook either
    await engine_says(api.redis, rate=1.0, free=0)
    status, answer, _ = await api.post(token, body)
    assert status == 200 and answer["ok"] is True


async def queue_room(redis: Redis, window: float) -> list:
    script = redis.register_script(
        QUEUE_ROOM_LUA + "local bound, wait = queue_room(KEYS[1], ARGV[1], KEYS[2], "
        "tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(redis.call('TIME')[1]))\n"
        "return {bound or false, wait}")
    return await script(keys=[CALLS_STREAM, ENGINE_CAPACITY],
                        args=[CALLS_GROUP, window, BACKLOG_FLOOR])


async def test_the_stream_bound_is_the_pending_jobs_plus_what_the_engines_start(redis):
    await engine_says(redis, rate=1.5, free=7)
    await engine_says(redis, rate=0.5, free=3, name="engine-b")
    capacity = BACKLOG_FLOOR + 10 + 2 * WINDOW
    assert await queue_room(redis, WINDOW) == [capacity, 0]  # (no stream yet)
    await backlog(redis, capacity - 1 + 40, taken=40)
    assert await queue_room(redis, WINDOW) == [40 + capacity, 0]
    await redis.xadd(CALLS_STREAM, {"verification_id": "one-more"})
    assert await queue_room(redis, WINDOW) == [None, 1]
    await CapacityReport(redis, "engine-a").withdraw()
    await CapacityReport(redis, "engine-b").withdraw()
    assert await queue_room(redis, WINDOW) == [None, WINDOW]
    assert await redis.hlen(ENGINE_CAPACITY) == 0


async def test_the_bench_front_doors_stand_in_engine_leaves_room(verify_api, clean_redis):
    """(The front-door bench runs the API with no engine; it must measure accepts.)"""
    stand_in_engine(clean_redis)
    _, api_key = await verify_api.account(credits=5)
    await backlog(verify_api.redis, BACKLOG_FLOOR * 50)
    assert await verify_api.verify(api_key, NUMBER) == "0"
