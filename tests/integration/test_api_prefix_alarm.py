"""The destination-prefix velocity alarm through both APIs, the real console
script and a real Redis: after N accepted calls to a prefix in a minute the
next request blocks it (7 / 400, one warning), until an operator unblocks it."""
from __future__ import annotations

import asyncio
import logging

import pytest
import redis

from engine.keys import BLOCKED_PREFIXES, prefix_calls_key
from tests.integration.api_harness import callverify, cli_environment, serve_api
from tests.integration.test_api_password_call import SEED_BODY, PasswordCallClient
from tests.integration.test_api_return_codes import ApiClient
from tests.integration.test_api_spend_limit import clear_of_the_turn

ALARM = 3
PREFIX = "1555123"  # of 1555123xxxx


@pytest.fixture
async def api(clean_redis) -> ApiClient:
    async with serve_api(clean_redis, ApiClient, prefix_alarm_per_minute=ALARM) as start:
        client = await start()
        await clear_of_the_turn(client.redis, 60)
        yield client


def alarm_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "prefix alarm" in r.getMessage()]


async def test_over_the_alarm_the_prefix_is_blocked_until_unblocked(api, caplog, clean_redis,
                                                                   tmp_path):
    caplog.set_level(logging.INFO)
    account_id, api_key = await api.account(credits=20)
    for n in range(1, ALARM + 1):
        assert await api.verify(api_key, f"555123000{n}") == "0"
    assert await api.verify(api_key, "5551230004") == "7"          # the one that blocks it
    assert await api.verify(api_key, "5551239999") == "7"          # the whole prefix
    assert await api.verify(api_key, "5551240001") == "0"          # another prefix
    assert await api.credits(account_id) == 20 - ALARM - 1
    assert await api.queued() == ALARM + 1

    [warning] = alarm_warnings(caplog)
    assert PREFIX in warning and f"callverify prefix unblock {PREFIX}" in warning
    for number in ("15551230004", "5551230004", "15551239999", "5551239999"):
        assert number not in caplog.text

    env = cli_environment(clean_redis, tmp_path)
    [line] = callverify(env, "prefix", "list").splitlines()
    assert line.startswith(f"{PREFIX} blocked 20")
    assert callverify(env, "prefix", "unblock", PREFIX).strip() == PREFIX
    assert callverify(env, "prefix", "list").strip() == ""
    assert await api.verify(api_key, "5551230004") == "0"          # the count starts again
    assert len(alarm_warnings(caplog)) == 1


async def test_a_blocked_prefix_stays_blocked_after_its_minute(api):
    _, api_key = await api.account(credits=20)
    for n in range(1, ALARM + 2):
        await api.verify(api_key, f"555123000{n}")
    await api.redis.delete(prefix_calls_key(PREFIX))                # as if the minute ended
    assert await api.verify(api_key, "5551230005") == "7"
    now, _ = await api.redis.time()
    [(prefix, blocked_at)] = (await api.store.prefixes.list()).items()
    assert prefix == PREFIX and now - 5 <= blocked_at <= now


async def test_only_accepted_calls_count(api):
    account_id, api_key = await api.account(credits=ALARM)
    _, broke_key = await api.account(credits=0)
    for n in range(1, ALARM + 3):
        assert await api.verify(broke_key, f"555123000{n}") == "2"
    for n in range(1, ALARM + 1):
        assert await api.verify(api_key, f"555123001{n}") == "0"
    assert await api.store.prefixes.list() == {}


async def test_the_blocked_prefix_ranks_with_the_other_7s(api):
    account_id, api_key = await api.account(credits=20)
    await api.store.dnc.add("15551230009")
    for n in range(1, ALARM + 2):
        await api.verify(api_key, f"555123000{n}")
    assert await api.verify("0123456789abcdef0123456789abcdef", "5551230009") == "1"
    assert await api.verify(api_key, "5551230009") == "7"           # 7 before 3
    assert await api.verify(api_key, "5551230009", code="1234567") == "4"
    await api.store.accounts.set_disabled(account_id, True)
    assert await api.verify(api_key, "5551230009") == "5"           # 5 before 7


async def test_no_alarm_when_set_to_0(clean_redis):
    async with serve_api(clean_redis, ApiClient, prefix_alarm_per_minute=0) as start:
        api = await start()
        account_id, api_key = await api.account(credits=100)
        numbers = [f"55512300{i:02d}" for i in range(50)]
        bodies = await asyncio.gather(*(api.verify(api_key, n) for n in numbers))
        assert bodies == ["0"] * 50
        assert await api.store.prefixes.list() == {}


async def test_parallel_requests_block_the_prefix_once(api, caplog):
    caplog.set_level(logging.WARNING)
    _, api_key = await api.account(credits=100)
    numbers = [f"55512300{i:02d}" for i in range(30)]
    bodies = await asyncio.gather(*(api.verify(api_key, n) for n in numbers))
    assert sorted(bodies) == ["0"] * ALARM + ["7"] * (30 - ALARM)
    assert len(alarm_warnings(caplog)) == 1


async def test_password_call_to_a_blocked_prefix_is_400(clean_redis, caplog):
    caplog.set_level(logging.WARNING)
    async with serve_api(clean_redis, PasswordCallClient, prefix_alarm_per_minute=2) as start:
        api = await start()
        await clear_of_the_turn(api.redis, 60)
        account_id, token = await api.account(credits=1000)
        await api.store.dnc.add("421222202003")

        def body(number: str) -> dict:
            return {**SEED_BODY, "phone_number": number, "is_with_redirect": False}

        assert (await api.post(token, body("421222202001")))[0] == 200
        assert (await api.post(token, body("421222202002")))[0] == 200
        status, answer, _ = await api.post(token, body("421222202003"))   # 400 before 403
        assert (status, answer) == (400, {"ok": False, "error": "number not supported: its "
                                          "range is blocked by the velocity alarm"})
        assert (await api.post(token, body("421222212001")))[0] == 200      # another prefix
        assert await api.queued() == 3
        [warning] = alarm_warnings(caplog)
        assert "42122220" in warning and "421222202003" not in caplog.text


@pytest.mark.parametrize("prefix, error", [
    ("1555123", "is not blocked"), ("abc", "not a prefix"), ("0441", "not a prefix")])
def test_unblock_refuses_what_is_not_a_blocked_prefix(clean_redis, tmp_path, prefix, error):
    env = cli_environment(clean_redis, tmp_path)
    assert error in callverify(env, "prefix", "unblock", prefix, expect=2)


def test_unblock_takes_a_leading_plus(clean_redis, tmp_path):
    client = redis.Redis.from_url(clean_redis)
    client.hset(BLOCKED_PREFIXES, PREFIX, 1700000000)
    client.close()
    env = cli_environment(clean_redis, tmp_path)
    assert callverify(env, "prefix", "list").split() == [PREFIX, "blocked", "2023-11-14T22:13:20Z"]
    assert callverify(env, "prefix", "unblock", "+" + PREFIX).strip() == PREFIX
