"""The token-bucket script's arithmetic, run by a real Redis (engine/client_limits.py).

A bucket is kept as the Redis time (ms) at which it will be full again; tests
that need time to pass write that time rather than sleep.
"""
from __future__ import annotations

import pytest
from redis.asyncio import Redis

from engine.client_limits import Buckets, ClientBuckets, Rate
from engine.keys import TOKEN_BUCKET_PREFIX, address_bucket_key, token_index

ADDRESS = address_bucket_key("198.51.100.7")


@pytest.fixture
async def redis(clean_redis):
    client = Redis.from_url(clean_redis)
    yield client
    await client.aclose()


def per_address(rate: float, burst: int) -> Buckets:
    return Buckets(ADDRESS, Rate(rate, burst))


async def redis_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return seconds * 1000 + micros // 1000


async def test_a_full_bucket_gives_its_burst_then_says_when_the_next_token_is_due(redis):
    buckets, limit = ClientBuckets(redis), per_address(0.5, 3)
    assert [await buckets.take(limit) for _ in range(3)] == [(0, "")] * 3
    wait, _ = await buckets.take(limit)
    assert 1900 <= wait <= 2000  # one token every 2 s (less the time the calls took)


async def test_a_refused_request_changes_nothing(redis):
    buckets, limit = ClientBuckets(redis), per_address(0.5, 1)
    assert await buckets.take(limit) == (0, "")
    held = await redis.get(ADDRESS)
    assert (await buckets.take(limit))[0] > 0
    assert await redis.get(ADDRESS) == held


async def test_tokens_come_back_at_the_rate(redis):
    buckets, limit = ClientBuckets(redis), per_address(2, 10)
    # Empty 1.6 s ago, so full 5 s after that: 3.2 tokens since, so three
    # requests pass and a fourth waits.
    await redis.set(ADDRESS, await redis_ms(redis) - 1600 + 5000)
    assert [(await buckets.take(limit))[0] for _ in range(3)] == [0, 0, 0]
    wait, _ = await buckets.take(limit)
    assert 300 <= wait <= 400  # 0.2 held: 0.8 of a token to go at 2 a second


async def test_a_bucket_never_holds_more_than_its_burst(redis):
    buckets, limit = ClientBuckets(redis), per_address(100, 4)
    await redis.set(ADDRESS, await redis_ms(redis) - 3_600_000)  # full an hour ago
    assert [(await buckets.take(limit))[0] for _ in range(4)] == [0] * 4
    assert (await buckets.take(limit))[0] > 0


async def test_the_key_lasts_only_until_the_bucket_is_full_again(redis):
    buckets = ClientBuckets(redis)
    assert [(await buckets.take(per_address(20, 40)))[0] for _ in range(10)] == [0] * 10
    assert 400 < await redis.pttl(ADDRESS) <= 500  # 10 tokens at 20 a second


async def test_no_limit_writes_nothing(redis):
    buckets = ClientBuckets(redis)
    for _ in range(5):
        assert await buckets.take(per_address(0, 0)) == (0, "")
    assert await redis.exists(ADDRESS) == 0


async def test_a_credential_names_its_accounts_bucket(redis):
    buckets = ClientBuckets(redis)
    await redis.set(token_index("t0ken"), "100001")
    limit = Buckets(ADDRESS, Rate(100, 100), TOKEN_BUCKET_PREFIX, Rate(0.5, 1))
    assert await buckets.take(limit, token_index("t0ken")) == (0, "100001")
    wait, account_id = await buckets.take(limit, token_index("t0ken"))
    assert account_id == "100001" and 1900 <= wait <= 2000
    assert await redis.exists(TOKEN_BUCKET_PREFIX + "100001") == 1
    # An unknown credential: the address's token only.
    assert await buckets.take(limit, token_index("other")) == (0, "")


async def test_the_address_refuses_before_the_credential_is_read(redis):
    buckets = ClientBuckets(redis)
    await redis.set(token_index("t0ken"), "100001")
    limit = Buckets(ADDRESS, Rate(0.5, 1), TOKEN_BUCKET_PREFIX, Rate(100, 100))
    assert await buckets.take(limit, token_index("t0ken")) == (0, "100001")
    wait, account_id = await buckets.take(limit, token_index("t0ken"))
    assert wait > 0 and account_id == ""  # "": the address's refusal, not the account's
