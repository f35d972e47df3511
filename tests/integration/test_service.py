"""The Service's start and stop over a real Redis (no Asterisk: the engine's ARI
URL leads nowhere, so it waits for ARI, as it does while Asterisk is away)."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from api.service import Service
from engine.delivery import DUE, WAKE, delivery_key
from engine.delivery_record import new_delivery
from engine.keys import CALLS_GROUP, CALLS_STREAM
from engine.settings import Settings
from tests.conftest import free_port
from tests.integration.conftest import LOCAL
from tests.integration.tcp_proxy import TcpRelay


@pytest.fixture
async def relay(clean_redis):
    """A relay in front of the test Redis, not listening until started."""
    host, port = clean_redis.removeprefix("redis://").split("/")[0].split(":")
    r = TcpRelay(free_port(), host, int(port))
    yield r
    await r.stop()


def settings_for(redis_url: str) -> Settings:
    return Settings().replace(
        redis_url=redis_url, api_listen=f"127.0.0.1:{free_port()}",
        ari_url=f"http://127.0.0.1:{free_port()}", ari_password="x", ari_app="cvtest-service",
        consumer_name="pytest-service", egress_allow=LOCAL)


async def test_the_deliverer_rides_out_a_redis_outage(relay, redis, callbacks):
    await relay.start()
    async with Service(settings_for(f"redis://127.0.0.1:{relay.listen_port}/0"),
                       {"delivery"}):
        await asyncio.sleep(0.3)
        await relay.stop()  # the loop's next lease fails: it ends, and is started again
        await asyncio.sleep(1.5)
        await relay.start()
        delivery = new_delivery("GET", callbacks.url, params={"n": "1"})
        await redis.hset(delivery_key(delivery["id"]), mapping=delivery["fields"])
        await redis.zadd(DUE, {delivery["id"]: delivery["due"]})
        await redis.rpush(WAKE, delivery["id"])
        assert (await callbacks.next(timeout=10))["query"] == {"n": "1"}


async def test_the_engine_starts_taking_jobs_once_redis_answers(relay, redis):
    async with Service(settings_for(f"redis://127.0.0.1:{relay.listen_port}/0"), {"engine"}):
        await asyncio.sleep(0.5)  # its first start failed: Redis was not there
        assert not await redis.exists(CALLS_STREAM)
        await relay.start()
        for _ in range(50):
            if await redis.exists(CALLS_STREAM):
                break
            await asyncio.sleep(0.1)
        groups = await redis.xinfo_groups(CALLS_STREAM)
        assert [g["name"] for g in groups] == [CALLS_GROUP.encode()]


async def test_a_part_that_cannot_start_stops_the_parts_before_it(clean_redis):
    settings = settings_for(clean_redis)
    host, port = settings.listen_host_port
    with socket.socket() as taken:
        taken.bind((host, port))
        taken.listen()
        service = Service(settings, {"api", "delivery"})
        with pytest.raises(OSError):
            await service.start()
    loops = [task for task in asyncio.all_tasks()
             if task.get_coro().__qualname__ == "supervised"]
    assert loops == []  # the deliverer's loop was started, and has been stopped
    await service.stop()  # nothing left to stop


async def test_the_api_serves_on_the_services_own_client(clean_redis):
    settings = settings_for(clean_redis)
    async with Service(settings, {"api"}) as service:
        pool = service.redis.connection_pool
        assert pool._available_connections == []
        host, port = settings.listen_host_port
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/healthz") as resp:
                assert (resp.status, await resp.text()) == (200, "ok")
        assert len(pool._available_connections) == 1  # the ping's, back in the pool
