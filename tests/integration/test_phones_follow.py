"""An engine's copy of the softphones' numbers (engine/phones.py) on a real
Redis: a change made elsewhere (the CLI) reaches it without a restart, also
one made while its subscription was cut."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from redis.asyncio import Redis

from api.redis_client import connect_redis
from engine.phones import Phones
from tests.conftest import free_port
from tests.integration.tcp_proxy import TcpRelay

NUMBER, OTHER = "12025550143", "12025550144"


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "the engine's copy did not change in time"
        await asyncio.sleep(0.02)


async def test_a_phone_added_or_removed_elsewhere_is_seen_at_once(redis: Redis, clean_redis):
    engine_redis = connect_redis(clean_redis)
    engine, cli = Phones(engine_redis), Phones(redis)
    done = asyncio.Event()
    following = asyncio.create_task(engine.follow(done))
    try:
        await cli.add(NUMBER)
        await until(lambda: NUMBER in engine)
        await cli.remove(NUMBER)
        await until(lambda: NUMBER not in engine)
    finally:
        done.set()
        await asyncio.wait_for(following, 5)  # it sees the stop signal within a read
        await engine_redis.aclose()


async def test_a_change_made_while_the_subscription_was_cut_is_read_when_it_is_back(
        redis: Redis, clean_redis):
    port = int(clean_redis.rsplit(":", 1)[1].split("/")[0])
    relay = TcpRelay(free_port(), "127.0.0.1", port)
    await relay.start()
    engine_redis = connect_redis(f"redis://127.0.0.1:{relay.listen_port}/0")
    engine, cli = Phones(engine_redis), Phones(redis)
    done = asyncio.Event()
    following = asyncio.create_task(engine.follow(done))
    try:
        await cli.add(NUMBER)
        await until(lambda: NUMBER in engine)
        await relay.stop()
        await cli.add(OTHER)  # announced while the engine hears nothing
        await asyncio.sleep(0.5)
        assert OTHER not in engine
        relay = TcpRelay(relay.listen_port, "127.0.0.1", port)
        await relay.start()
        await until(lambda: OTHER in engine, timeout=10)
    finally:
        done.set()
        await asyncio.wait_for(following, 5)
        await engine_redis.aclose()
        await relay.stop()
