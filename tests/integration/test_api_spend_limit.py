"""The per-account hourly spend limit through both APIs, the real console
script and a real Redis: over it, reverse verify answers 2 and the password
call 402, and nothing is charged; parallel requests cannot overspend it."""
from __future__ import annotations

import asyncio
import json

import pytest

from engine.delivery import DUE, delivery_key
from engine.keys import account_key, flood_key
from tests.integration.api_harness import callverify, cli_environment, serve_api
from tests.integration.test_api_password_call import (
    SEED_BODY,
    SLOVAK_PRICE,
    WEBHOOK,
    PasswordCallClient,
)
from tests.integration.test_api_return_codes import ApiClient


async def clear_of_the_turn(redis, window: int, margin: float = 3) -> None:
    """If Redis's clock `window` (60: minute, 3600: hour) ends within `margin`
    seconds, wait for the next one: a test's requests then share one window."""
    seconds, micros = await redis.time()
    left = window - (seconds % window) - micros / 1e6
    if left < margin:
        await asyncio.sleep(left + 0.1)


@pytest.fixture
async def api(clean_redis) -> ApiClient:
    async with serve_api(clean_redis, ApiClient) as start:
        client = await start()
        await clear_of_the_turn(client.redis, 3600)
        yield client


@pytest.fixture
async def password_api(clean_redis) -> PasswordCallClient:
    async with serve_api(clean_redis, PasswordCallClient, redirect_wait_seconds=0.5) as start:
        client = await start()
        await clear_of_the_turn(client.redis, 3600)
        yield client


async def test_reverse_verify_over_the_limit_is_2_and_charges_nothing(api):
    account_id, api_key = await api.account(credits=10)
    await api.store.accounts.set_spend_limit(account_id, 2)
    assert await api.verify(api_key, "5551230001") == "0"
    assert await api.verify(api_key, "5551230002") == "0"
    assert await api.verify(api_key, "5551230003") == "2"
    assert await api.credits(account_id) == 8
    assert await api.queued() == 2
    assert len(await api.verifications()) == 2
    assert not await api.redis.exists(flood_key(account_id, "15551230003"))
    assert await api.store.accounts.spent_this_hour(account_id) == 2


async def test_a_charge_that_would_cross_the_limit_is_refused_whole(clean_redis):
    async with serve_api(clean_redis, ApiClient, call_price=3) as start:
        api = await start()
        await clear_of_the_turn(api.redis, 3600)
        account_id, api_key = await api.account(credits=10)
        await api.store.accounts.set_spend_limit(account_id, 5)
        assert await api.verify(api_key, "5551230001") == "0"
        assert await api.verify(api_key, "5551230002") == "2"  # 3 + 3 > 5
        assert await api.credits(account_id) == 7


async def test_the_spend_of_an_earlier_hour_does_not_count(api):
    account_id, api_key = await api.account(credits=10)
    await api.store.accounts.set_spend_limit(account_id, 1)
    assert await api.verify(api_key, "5551230001") == "0"
    assert await api.verify(api_key, "5551230002") == "2"
    hour = int(await api.redis.hget(account_key(account_id), "spend_hour"))
    await api.redis.hset(account_key(account_id), "spend_hour", hour - 1)  # as if an hour passed
    assert await api.verify(api_key, "5551230002") == "0"
    assert await api.credits(account_id) == 8


async def test_parallel_requests_cannot_overspend_the_limit(clean_redis):
    async with serve_api(clean_redis, ApiClient, prefix_alarm_per_minute=0) as start:
        api = await start()
        await clear_of_the_turn(api.redis, 3600)
        account_id, api_key = await api.account(credits=1000)
        await api.store.accounts.set_spend_limit(account_id, 7)
        numbers = [f"55512340{i:02d}" for i in range(60)]
        bodies = await asyncio.gather(*(api.verify(api_key, n) for n in numbers))
        assert sorted(bodies) == ["0"] * 7 + ["2"] * 53
        assert await api.credits(account_id) == 993
        assert await api.queued() == 7
        assert await api.store.accounts.spent_this_hour(account_id) == 7


async def test_password_call_over_the_limit_is_402_with_its_billing_record(password_api):
    api = password_api
    account_id, token = await api.account(credits=1000)
    await api.store.accounts.set_spend_limit(account_id, SLOVAK_PRICE + 10)
    await api.store.accounts.set_webhook(account_id, "password_call", WEBHOOK, ["q931_status"])
    quick = {**SEED_BODY, "is_with_redirect": False}
    assert (await api.post(token, quick))[0] == 200
    status, body, _ = await api.post(token, {**quick, "phone_number": "421222202005"})
    refused = [v for v in await api.verifications() if v["status"] == "done"]
    assert [v["e164"] for v in refused] == ["421222202005"]
    assert (status, body) == (402, {"ok": False, "error": "over the account's hourly spend limit",
                                    "verification_uuid": f"{refused[0]['id']}_{account_id}"})
    assert await api.credits(account_id) == 1000 - SLOVAK_PRICE
    assert await api.queued() == 1
    [delivery_id] = await api.redis.zrange(DUE, 0, -1)
    delivery = await api.redis.hget(delivery_key(delivery_id.decode()), "body")
    assert json.loads(delivery) == {"q931_status": 41}


async def test_the_limit_counts_both_apis_units_together(clean_redis):
    async with serve_api(clean_redis, PasswordCallClient) as start:
        calls = await start()
        await clear_of_the_turn(calls.redis, 3600)
        verify = ApiClient(calls.base_url, calls.http, calls.store, calls.redis)
        new = await calls.store.accounts.create("both", 1000)
        await calls.store.accounts.set_spend_limit(new.account_id, SLOVAK_PRICE + 1)
        assert (await calls.post(new.token, {**SEED_BODY, "is_with_redirect": False}))[0] == 200
        assert await verify.verify(new.api_key, "5551230001") == "0"   # 83 + 1
        assert await verify.verify(new.api_key, "5551230002") == "2"
        assert await calls.credits(new.account_id) == 1000 - SLOVAK_PRICE - 1


async def test_spend_limit_command(api, clean_redis, tmp_path):
    env = cli_environment(clean_redis, tmp_path)
    account_id, api_key = await api.account(credits=10)
    shown = json.loads(callverify(env, "account", "spend-limit", account_id, "1"))
    assert (shown["spend_limit"], shown["spent_this_hour"]) == (1, 0)
    assert await api.verify(api_key, "5551230001") == "0"
    assert await api.verify(api_key, "5551230002") == "2"
    shown = json.loads(callverify(env, "account", "show", account_id))
    assert (shown["spend_limit"], shown["spent_this_hour"], shown["credits"]) == (1, 1, 9)
    assert json.loads(callverify(env, "account", "spend-limit", account_id, "off"))[
        "spend_limit"] is None
    assert await api.verify(api_key, "5551230002") == "0"
    assert json.loads(callverify(env, "account", "show", account_id))["spent_this_hour"] == 2


@pytest.mark.parametrize("units", ["0", "-5", "1.5", "abc", "ten"])
async def test_spend_limit_command_refuses_what_is_no_limit(api, clean_redis, tmp_path, units):
    env = cli_environment(clean_redis, tmp_path)
    account_id, _ = await api.account()
    error = callverify(env, "account", "spend-limit", account_id, units, expect=2)
    assert "whole number of units >= 1, or `off`" in error
    assert (await api.store.accounts.get(account_id)).spend_limit is None


async def test_spend_limit_command_for_an_unknown_account(clean_redis, tmp_path):
    env = cli_environment(clean_redis, tmp_path)
    assert "unknown account '999'" in callverify(env, "account", "spend-limit", "999", "5",
                                                 expect=2)
