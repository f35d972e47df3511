"""ARI going away and coming back, in front of the real Asterisk (through a relay)."""
from __future__ import annotations

import asyncio

import pytest

from api.service import Service
from tests.conftest import free_port
from tests.integration.tcp_proxy import TcpRelay


@pytest.fixture
async def relay(sandbox):
    host, port = sandbox["ari_url"].removeprefix("http://").split(":")
    r = TcpRelay(free_port(), host, int(port))
    yield r
    await r.stop()


def params(account, callbacks, number: str) -> dict:
    return {"api_key": account.api_key, "phone_number": number, "country_code": "1",
            "code": "1234", "callback_url": callbacks.url}


async def test_jobs_wait_while_ari_is_down_and_are_called_when_it_returns(
        settings, asterisk_clean, relay, api, callbacks, phone):
    settings = settings.replace(ari_url=f"http://127.0.0.1:{relay.listen_port}")
    sipp = phone("answer_dtmf", keys="1234#")
    async with Service(settings) as svc:
        account = await svc.store.accounts.create("t", 5)
        assert await api.reverse_verify(**params(account, callbacks, "5551230201")) == "0"
        await asyncio.sleep(2)
        assert sipp.invite_count == 0
        assert (await svc.store.verifications.get(
            next(iter(await _verification_ids(svc))))).status == "queued"
        await relay.start()
        callback = await callbacks.next(timeout=40)
    assert callback["query"]["match"] == "1"
    assert sipp.invite_count == 1


async def test_ari_cut_between_calls_reconnects(settings, asterisk_clean, relay, api,
                                                callbacks, phone):
    settings = settings.replace(ari_url=f"http://127.0.0.1:{relay.listen_port}")
    await relay.start()
    async with Service(settings) as svc:
        account = await svc.store.accounts.create("t", 5)
        await relay.stop()
        await asyncio.sleep(0.5)
        assert not svc.ari.events.connected.is_set()
        await relay.start()
        await asyncio.wait_for(svc.ari.events.connected.wait(), 20)
        phone("answer_dtmf", keys="1234#")
        assert await api.reverse_verify(**params(account, callbacks, "5551230202")) == "0"
        callback = await callbacks.next(timeout=40)
    assert callback["query"]["match"] == "1"
    assert svc.ari.events.connections >= 2


async def _verification_ids(svc) -> list[str]:
    keys = await svc.redis.keys("cv:verification:*")
    return [k.decode().rsplit(":", 1)[1] for k in keys]
