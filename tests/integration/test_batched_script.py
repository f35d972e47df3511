"""BatchedScript against a real Redis: concurrent calls share one connection and
one write, each caller gets its own reply (or its own error), batches are
pipelined in order, and a lost or stalled Redis fails every caller of the batch
instead of losing one."""
from __future__ import annotations

import asyncio

import pytest
from redis._parsers import _AsyncRESP2Parser
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.redis_client import connect_redis
from engine.batched_script import BatchedScript, command
from engine.scripts import registered_script
from tests.conftest import free_port
from tests.integration.tcp_proxy import TcpRelay

# Counts its calls in KEYS[1], so the test sees every script ran exactly once.
COUNT = """
if ARGV[1] == 'boom' then return redis.error_reply('refused ' .. ARGV[2]) end
return {redis.call('INCR', KEYS[1]), ARGV[2]}
"""
# Holds Redis for ARGV[1] ms, as a stalled server would.
STALL = """
local t = redis.call('TIME')
local until_us = t[1] * 1000000 + t[2] + ARGV[1] * 1000
repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= until_us
return 1
"""


@pytest.fixture
async def redis(clean_redis):
    client = Redis.from_url(clean_redis, client_name="batched-test", socket_timeout=5)
    yield client
    await client.aclose()


async def connections_named(redis: Redis, name: str) -> int:
    return sum(1 for c in await redis.client_list() if c.get("name") == name)


async def test_concurrent_calls_share_one_connection_and_each_gets_its_reply(redis):
    script = BatchedScript(redis, COUNT)
    replies = await asyncio.gather(*(script(keys=["calls"], args=["ok", str(i)])
                                     for i in range(50)))
    assert sorted(int(count) for count, _ in replies) == list(range(1, 51))
    assert [echo.decode() for _, echo in replies] == [str(i) for i in range(50)]
    # One call through redis-py per request would have opened 50 connections;
    # here the script holds one, and this query runs on a second.
    assert await connections_named(redis, "batched-test") == 2


async def test_an_error_reply_reaches_only_its_caller(redis):
    script = BatchedScript(redis, COUNT)
    results = await asyncio.gather(
        script(keys=["calls"], args=["ok", "a"]),
        script(keys=["calls"], args=["boom", "b"]),
        script(keys=["calls"], args=["ok", "c"]),
        return_exceptions=True)
    assert isinstance(results[1], ResponseError) and "refused b" in str(results[1])
    assert [echo for _, echo in (results[0], results[2])] == [b"a", b"c"]
    assert await redis.get("calls") == b"2"
    # The connection was kept: an error reply does not break the stream.
    assert await script(keys=["calls"], args=["ok", "d"]) == [3, b"d"]


async def test_scripts_flushed_by_redis_are_loaded_again(redis):
    script = BatchedScript(redis, COUNT)
    assert (await script(keys=["calls"], args=["ok", "x"]))[0] == 1
    await redis.script_flush()
    replies = await asyncio.gather(*(script(keys=["calls"], args=["ok", "y"])
                                     for _ in range(5)))
    assert sorted(count for count, _ in replies) == [2, 3, 4, 5, 6]


async def test_redis_down_fails_every_caller_of_the_batch():
    unreachable = connect_redis(f"redis://127.0.0.1:{free_port()}/0")  # as the API's
    script = BatchedScript(unreachable, COUNT)
    results = await asyncio.gather(*(script(keys=["calls"], args=["ok", "1"])
                                     for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await unreachable.aclose()


async def test_a_stalled_redis_times_out_the_batch_then_calls_work_again(clean_redis):
    redis = Redis.from_url(clean_redis, socket_timeout=0.3)
    stall_client = Redis.from_url(clean_redis, socket_timeout=5)
    stall = BatchedScript(stall_client, STALL)
    script = BatchedScript(redis, COUNT)
    await script(keys=["calls"], args=["ok", "warm"])  # loaded, so the stall hits the reads
    stalled = asyncio.ensure_future(stall(args=["1000"]))
    await asyncio.sleep(0.1)
    results = await asyncio.gather(*(script(keys=["calls"], args=["ok", "1"])
                                     for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RedisTimeoutError) for r in results), results
    assert await stalled == 1
    # The timed-out connection was dropped with its unread replies: no stale
    # reply is handed to the next caller.
    assert await script(keys=["calls"], args=["ok", "after"]) == [5, b"after"]
    await redis.aclose()
    await stall_client.aclose()


def test_command_is_resp_bulk_strings():
    assert command(b"EVALSHA", "ab", 1, "é") == (
        b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$2\r\n\xc3\xa9\r\n")
    assert command("x", 1.5) == b"*2\r\n$1\r\nx\r\n$3\r\n1.5\r\n"
    with pytest.raises(TypeError):
        command("x", None)


async def test_a_connection_closed_by_redis_is_replaced_before_the_next_batch(redis, clean_redis):
    script = BatchedScript(redis, COUNT)
    assert (await script(keys=["calls"], args=["ok", "1"]))[0] == 1
    # As after a Redis restart: the pooled connection is dead when next used.
    admin = Redis.from_url(clean_redis)
    assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1
    await admin.aclose()
    replies = await asyncio.gather(*(script(keys=["calls"], args=["ok", "2"]) for _ in range(3)))
    assert sorted(count for count, _ in replies) == [2, 3, 4]


async def test_batches_are_pipelined_on_one_connection_in_order(redis):
    script = BatchedScript(redis, COUNT)
    results: list[int] = []

    async def caller(i: int) -> None:
        for _ in range(i % 3):  # callers join different loop turns: several batches in flight
            await asyncio.sleep(0)
        count, echo = await script(keys=["calls"], args=["ok", str(i)])
        assert echo == str(i).encode()
        results.append(count)
    await asyncio.gather(*(caller(i) for i in range(300)))
    assert sorted(results) == list(range(1, 301))
    assert await connections_named(redis, "batched-test") == 2


# Holds Redis for ARGV[1] ms, then counts the call.
SLOW_COUNT = STALL.replace("return 1", "return redis.call('INCR', KEYS[1])")


async def test_calls_in_flight_when_the_connection_drops_go_once_more(clean_redis):
    relay = TcpRelay(free_port(), "127.0.0.1", int(clean_redis.rsplit(":", 1)[1].split("/")[0]))
    await relay.start()
    client = Redis(port=relay.listen_port, db=int(clean_redis.rsplit("/", 1)[1]), socket_timeout=5)
    script = BatchedScript(client, SLOW_COUNT)
    await script(keys=["calls"], args=["0"])  # loaded and connected
    calls = asyncio.gather(*(script(keys=["calls"], args=["200"]) for _ in range(3)))
    await asyncio.sleep(0.1)
    await relay.stop()   # the replies are lost with the connection ...
    await relay.start()  # ... and a new one can be made
    # Each caller gets a reply; the scripts ran twice (the first run's
    # replies were lost): at least once, as redis-py's own retry would.
    assert sorted(await calls) == [5, 6, 7]
    await client.aclose()
    await relay.stop()


async def test_a_connection_lost_twice_fails_the_callers(clean_redis):
    relay = TcpRelay(free_port(), "127.0.0.1", int(clean_redis.rsplit(":", 1)[1].split("/")[0]))
    await relay.start()
    client = Redis(port=relay.listen_port, db=int(clean_redis.rsplit("/", 1)[1]), socket_timeout=5,
                   socket_connect_timeout=1)
    script = BatchedScript(client, SLOW_COUNT)
    await script(keys=["calls"], args=["0"])
    calls = asyncio.gather(*(script(keys=["calls"], args=["200"]) for _ in range(3)),
                           return_exceptions=True)
    await asyncio.sleep(0.1)
    await relay.stop()  # and no way back
    results = await calls
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await client.aclose()


async def test_replies_split_over_many_reads_reach_their_callers(redis):
    # Replies larger than one read of the stream: each is put together again.
    script = BatchedScript(redis, "return string.rep(ARGV[1], tonumber(ARGV[2]))")
    replies = await asyncio.gather(*(script(args=[str(i % 10), "40000"]) for i in range(8)))
    assert replies == [str(i % 10).encode() * 40000 for i in range(8)]


async def test_a_client_without_the_hiredis_parser_is_refused_clearly(clean_redis):
    client = Redis.from_url(clean_redis, parser_class=_AsyncRESP2Parser)
    try:
        with pytest.raises(TypeError, match="hiredis"):
            await BatchedScript(client, COUNT)(keys=["calls"], args=["ok", "x"])
        pool = client.connection_pool
        assert not pool._in_use_connections  # the connection went back to the pool
    finally:
        await client.aclose()


# A reply of each kind a script gives, chosen by ARGV[1]; errors of both sorts.
KINDS = """
local kind = ARGV[1]
if kind == 'int' then return redis.call('STRLEN', KEYS[1]) + #ARGV end
if kind == 'bulk' then return ARGV[2] end
if kind == 'nil' then return false end
if kind == 'true' then return true end
if kind == 'number' then return tonumber(ARGV[2]) end
if kind == 'status' then return redis.status_reply('FINE') end
if kind == 'refused' then return redis.error_reply('refused ' .. ARGV[2]) end
if kind == 'wrongtype' then redis.call('SET', KEYS[1], 'x'); return redis.call('HGET', KEYS[1], 'f') end
if kind == 'nested' then return {1, {ARGV[2], false, {}}, 'x', KEYS[1]} end
if kind == 'empty' then return {} end
if kind == 'hash' then
  redis.call('HSET', KEYS[1], 'a', ARGV[2], 'b', #ARGV)
  return redis.call('HGETALL', KEYS[1])
end
return redis.error_reply('no kind ' .. kind)
"""
KIND_CALLS = [
    # Replies that do not depend on the order the calls run in: redis-py's own
    # script retries a batch of NOSCRIPT calls in whatever order they come back.
    (["n"], ["int"]), (["n"], ["int", "2"]), ([], ["bulk", "plain"]), ([], ["bulk", "é ü €"]),
    ([], ["bulk", b"\x00\xffraw"]), ([], ["bulk", 12]), ([], ["bulk", 1.5]), ([], ["bulk", ""]),
    ([], ["bulk", "x" * 70000]), ([], ["nil"]), ([], ["true"]), ([], ["number", "3.7"]),
    ([], ["number", "-12"]), ([], ["status"]), ([], ["refused", "b"]), (["w"], ["wrongtype"]),
    (["k"], ["nested", "deep"]), ([], ["empty"]), (["h"], ["hash", "v", 2, 3]), ([], ["other"]),
]


def outcome(result):
    """A reply, or an error reply as its type and text (the same error object never is)."""
    if isinstance(result, Exception):
        return type(result).__name__, str(result)
    return result


async def run_kinds(script, redis: Redis, calls: list) -> list:
    """The calls one at a time, then all at once, then all at once after Redis
    lost its scripts."""
    one_by_one = [outcome(await run_one(script, keys, args)) for keys, args in calls]
    at_once = await asyncio.gather(*(script(keys=k, args=a) for k, a in calls),
                                   return_exceptions=True)
    await redis.script_flush()
    reloaded = await asyncio.gather(*(script(keys=k, args=a) for k, a in calls),
                                    return_exceptions=True)
    return [one_by_one, [outcome(r) for r in at_once], [outcome(r) for r in reloaded]]


async def run_one(script, keys, args):
    try:
        return await script(keys=keys, args=args)
    except ResponseError as exc:
        return exc


@pytest.mark.parametrize("decode", [False, True])
async def test_batched_script_answers_as_redis_pys_registered_script(clean_redis, decode):
    """The fallback engine.scripts chooses when the check fails gives the same
    replies and errors as the fast path: a library upgrade that changes one of
    them fails here."""
    client = Redis.from_url(clean_redis, socket_timeout=5, decode_responses=decode)
    calls = KIND_CALLS
    if decode:
        # A reply that is not UTF-8 does not decode: redis-py raises that to its
        # caller alone, BatchedScript takes it for a lost connection. The
        # services' clients do not decode.
        calls = [(keys, args) for keys, args in calls
                 if not any(isinstance(arg, bytes) for arg in args)]
    try:
        fast = await run_kinds(BatchedScript(client, KINDS), client, calls)
        await client.flushdb()
        library = await run_kinds(registered_script(client, KINDS), client, calls)
    finally:
        await client.aclose()
    assert fast == library
    # The calls gave replies of every kind, and errors of both sorts.
    replies = fast[0]
    assert {type(r).__name__ for r in replies} >= {"int", "bytes" if not decode else "str",
                                                   "NoneType", "list", "tuple"}
    assert sum(isinstance(r, tuple) for r in replies) == 3
