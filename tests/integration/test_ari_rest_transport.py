"""Where ARI REST requests travel: over the events WebSocket when Asterisk takes
them there (22.10 does), over HTTP when it does not or while the socket is down;
originates always over HTTP (a thread of Asterisk's each, side by side)."""
from __future__ import annotations

import asyncio

from engine.ari.client import AriClient
from engine.service import Service
from tests.integration.test_reverse_verify_calls import expected, verify


def count_http(service) -> list[str]:
    """Record every HTTP request the ARI REST client sends from now on."""
    sent: list[str] = []
    session = service.ari.rest._session
    send = session.request

    def counting(method, url, **kwargs):
        sent.append(f"{method} {url}")
        return send(method, url, **kwargs)

    session.request = counting
    return sent


async def test_a_call_originates_over_http_and_sends_the_rest_over_the_websocket(
        service, api, account, callbacks, phone):
    assert service.ari.events.takes_rest
    http = count_http(service)
    phone("answer_dtmf", keys="1234#")
    assert await verify(api, account, callbacks) == expected("1", "1")
    await asyncio.sleep(1)
    assert len(http) == 1 and http[0].startswith("POST ") and http[0].endswith("/ari/channels")


async def test_a_call_works_over_http_when_asterisk_does_not_take_rest_on_the_websocket(
        settings, asterisk_clean, api, callbacks, phone, monkeypatch):
    async def no_rest_over_websocket(self) -> None:
        return None  # as an Asterisk older than 22.4 behaves

    monkeypatch.setattr(AriClient, "_try_rest_over_websocket", no_rest_over_websocket)
    async with Service(settings) as svc:
        assert not svc.ari.events.takes_rest
        http = count_http(svc)
        account = await svc.store.create_account("t", 5)
        phone("answer_dtmf", keys="1234#")
        assert await verify(api, account, callbacks) == expected("1", "1")
    assert any(line.startswith("POST") and line.endswith("/channels") for line in http)
    assert any("/play/" in line for line in http)


async def test_requests_fall_back_to_http_while_the_websocket_is_down(service):
    service.ari.events.drop()
    await asyncio.sleep(0)
    http = count_http(service)
    assert isinstance(await service.ari.rest.channels(), list)
    assert http and http[0].startswith("GET")
    await asyncio.wait_for(service.ari.events.connected.wait(), 20)
    for _ in range(50):  # the probe after reconnecting
        if service.ari.events.takes_rest:
            break
        await asyncio.sleep(0.1)
    assert service.ari.events.takes_rest
