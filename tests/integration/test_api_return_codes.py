"""Every reverse-verify return code through real HTTP against a real Redis.

Each test asserts what a customer sees (body, status, content type) and what
the engine would see in Redis (verification hash, cv:calls stream, credits).
"""
from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from engine.keys import CALLS_STREAM, flood_key
from tests.integration.api_harness import ServedApi, serve_api

CODE = "739164"
PATHS = ("/api/reverse_verify/", "/api/reverse_verify")


class ApiClient(ServedApi):
    DEFAULT_CREDITS = 5
    ACCOUNT_SECRET = "api_key"

    async def get(self, path: str = PATHS[0], **params) -> tuple[int, str, str]:
        async with self.http.get(self.base_url + path, params=params) as resp:
            return resp.status, resp.content_type, await resp.text()

    async def verify(self, api_key: str, phone_number: str = "5551234567", *,
                     path: str = PATHS[0], **extra) -> str:
        """Send the seed request; assert the seed's answer form; return the code."""
        params = {"api_key": api_key, "phone_number": phone_number, "country_code": "1",
                  "code": CODE, "callback_url": "http://site.example/cb.php", **extra}
        status, content_type, body = await self.get(path, **params)
        assert (status, content_type) == (200, "text/plain")
        return body


@pytest.fixture
async def serve(clean_redis):
    """Start the real API (api_harness.serve_api) on a free port; returns a client factory."""
    async with serve_api(clean_redis, ApiClient) as start:
        yield start


@pytest.fixture
async def api(serve) -> ApiClient:
    return await serve()


async def redis_dump(redis: Redis) -> str:
    """Every key and value in Redis, as one text, to search for leaks."""
    parts = []
    async for key in redis.scan_iter():
        kind = (await redis.type(key)).decode()
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "set":
            value = await redis.smembers(key)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = await redis.dump(key)
        parts.append(f"{key!r} {value!r}")
    return "\n".join(parts)


@pytest.mark.parametrize("path", PATHS)
async def test_0_accepted_stores_queues_and_charges_once(api, path):
    account_id, api_key = await api.account(credits=5)
    assert await api.verify(api_key, path=path) == "0"
    [verification] = await api.verifications()
    assert verification["status"] == "queued"
    assert verification["flow"] == "reverse_verify"
    assert verification["e164"] == "15551234567"
    assert verification["phone_number"] == "5551234567"
    assert verification["country_code"] == "1"
    assert verification["caller_id"] == "0000000000"
    assert "secret" not in verification  # none given: a field at its default is not stored
    assert verification["callback_url"] == "http://site.example/cb.php"
    assert verification["account_id"] == account_id
    assert "code" not in verification
    assert await api.store.verifications.code_matches(verification["id"], verification["code_hmac"], CODE)
    assert CODE not in await redis_dump(api.redis)
    [(_, job)] = await api.redis.xrange(CALLS_STREAM)
    assert job == {b"verification_id": verification["id"].encode()}
    assert await api.credits(account_id) == 4


async def test_0_keeps_secret_and_a_listed_caller_id(api):
    account_id, api_key = await api.account()
    await api.store.accounts.add_caller_id(account_id, "15559876543")
    body = await api.verify(api_key, secret="WeBuildThisCityOnRockAndRoll", caller_id="15559876543")
    assert body == "0"
    [verification] = await api.verifications()
    assert verification["secret"] == "WeBuildThisCityOnRockAndRoll"
    assert verification["caller_id"] == "15559876543"


async def test_1_unknown_api_key(api):
    await api.account()
    assert await api.verify("0123456789abcdef0123456789abcdef") == "1"
    assert await api.verifications() == []
    assert await api.queued() == 0


async def test_2_no_credit_neither_debits_nor_queues(api):
    account_id, api_key = await api.account(credits=0)
    assert await api.verify(api_key) == "2"
    assert await api.credits(account_id) == 0
    assert await api.queued() == 0
    assert await api.verifications() == []
    assert not await api.redis.exists(flood_key(account_id, "15551234567"))


async def test_2_balance_below_the_call_price(serve):
    api = await serve(call_price=2)
    account_id, api_key = await api.account(credits=1)
    assert await api.verify(api_key) == "2"
    assert await api.credits(account_id) == 1
    assert await api.queued() == 0


async def test_3_do_not_call(api):
    account_id, api_key = await api.account()
    await api.store.dnc.add("15551234567")
    assert await api.verify(api_key) == "3"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


@pytest.mark.parametrize("extra", [
    {"code": "1234567"}, {"phone_number": "555-123-4567"}, {"secret": "s" * 31},
    {"callback_url": "ftp://site.example/cb"}, {"caller_id": "x"}])
async def test_4_malformed(api, extra):
    account_id, api_key = await api.account()
    assert await api.verify(api_key, **extra) == "4"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


async def test_4_missing_and_repeated_parameters(api):
    _, api_key = await api.account()
    status, content_type, body = await api.get(api_key=api_key, phone_number="5551234567")
    assert (status, content_type, body) == (200, "text/plain", "4")
    url = (f"{api.base_url}/api/reverse_verify/?api_key={api_key}&phone_number=5551234567"
           f"&country_code=1&code=1234&code=5678&callback_url=http://site.example/cb")
    async with api.http.get(url) as resp:
        assert (resp.status, await resp.text()) == (200, "4")
    assert await api.queued() == 0


async def test_5_disabled_key(api):
    account_id, api_key = await api.account()
    await api.store.accounts.set_disabled(account_id, True)
    assert await api.verify(api_key) == "5"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


async def test_6_flood_same_number_within_a_minute_from_the_same_account(api):
    first_id, first_key = await api.account()
    other_id, other_key = await api.account()
    assert await api.verify(first_key) == "0"
    assert 59_000 < await api.redis.pttl(flood_key(first_id, "15551234567")) <= 60_000
    assert await api.verify(first_key) == "6"
    # Another account's request is not locked out by the first one's.
    assert await api.verify(other_key) == "0"
    assert await api.verify(other_key) == "6"
    assert await api.verify(first_key, phone_number="5551234568") == "0"
    assert (await api.credits(first_id), await api.credits(other_id)) == (3, 4)
    assert await api.queued() == 3


async def test_6_flood_window_ends(serve):
    api = await serve(flood_seconds=1)
    _, api_key = await api.account()
    assert await api.verify(api_key) == "0"
    assert await api.verify(api_key) == "6"
    await asyncio.sleep(1.2)
    assert await api.verify(api_key) == "0"
    assert await api.queued() == 2


async def test_7_blocked_premium_rate_prefix(api):
    account_id, api_key = await api.account()
    assert await api.verify(api_key, phone_number="9005551234") == "7"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


async def test_8_country_not_supported(api):
    account_id, api_key = await api.account()
    assert await api.verify(api_key, phone_number="301234567", country_code="49") == "8"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


async def test_8_jamaica_by_default(api):
    account_id, api_key = await api.account()
    assert await api.verify(api_key, phone_number="8762345678") == "8"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


@pytest.mark.parametrize("country_code, phone_number", [("44", "8431234567"),
                                                        ("421", "900123456")])
async def test_7_premium_rate_by_number_type(serve, country_code, phone_number):
    api = await serve(blocked_prefixes=())  # refused by their type, not by a prefix
    account_id, api_key = await api.account()
    assert await api.verify(api_key, phone_number=phone_number, country_code=country_code) == "7"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


async def test_the_price_by_prefix_then_region_then_call_price(serve):
    api = await serve(call_price=1, call_prices={"GB": 2, "4420": 3})
    account_id, api_key = await api.account(credits=10)
    assert await api.verify(api_key, phone_number="7400123456", country_code="44") == "0"
    assert await api.credits(account_id) == 8      # GB: 2
    assert await api.verify(api_key, phone_number="2079460123", country_code="44") == "0"
    assert await api.credits(account_id) == 5      # +4420: 3, before GB's 2
    assert await api.verify(api_key) == "0"
    assert await api.credits(account_id) == 4      # US, not listed: CALLVERIFY_CALL_PRICE
    _, poor_key = await api.account(credits=1)
    assert await api.verify(poor_key, phone_number="7400123457", country_code="44") == "2"


async def test_uk_number_with_national_zero_is_accepted(api):
    _, api_key = await api.account()
    assert await api.verify(api_key, phone_number="07911123456", country_code="44") == "0"
    [verification] = await api.verifications()
    assert (verification["e164"], verification["phone_number"]) == ("447911123456", "07911123456")


async def test_checks_run_in_the_documented_order(api):
    account_id, api_key = await api.account(credits=0)
    await api.store.dnc.add("15551234567")
    await api.store.dnc.add("19005551234")
    assert await api.verify("nope", code="1234567") == "4"          # 4 before 1
    assert await api.verify("nope", country_code="49", phone_number="301234567") == "1"
    assert await api.verify(api_key, phone_number="9005551234") == "7"   # 7 before 3
    assert await api.verify(api_key) == "3"                          # 3 before 2
    await api.store.accounts.add_credits(account_id, 1)
    assert await api.verify(api_key, phone_number="5551230042") == "0"  # balance now 0
    assert await api.verify(api_key, phone_number="5551230042") == "6"   # 6 before 2
    assert await api.verify(api_key, phone_number="5551230043") == "2"
    # the refused request took no flood mark: funded, the number goes through
    await api.store.accounts.add_credits(account_id, 1)
    assert await api.verify(api_key, phone_number="5551230043") == "0"
    await api.store.accounts.set_disabled(account_id, True)
    assert await api.verify(api_key, country_code="49", phone_number="301234567") == "5"


async def test_parallel_requests_never_overspend(api):
    account_id, api_key = await api.account(credits=10)
    numbers = [f"55512345{i:02d}" for i in range(20)]
    bodies = await asyncio.gather(*(api.verify(api_key, n) for n in numbers))
    assert sorted(bodies) == ["0"] * 10 + ["2"] * 10
    assert await api.queued() == 10
    assert len(await api.verifications()) == 10
    assert await api.credits(account_id) == 0
