"""Where ARI REST requests travel: over the events WebSocket when Asterisk takes
them there (22.10 does), over HTTP when it does not or while the socket is down;
originates over WebSockets of their own (a thread of Asterisk's each, side by
side), never the events socket."""
from __future__ import annotations

import asyncio

from api.service import Service
from engine.ari.client import AriClient
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


def count_websocket(socket) -> list[str]:
    """Record every REST request sent over one WebSocket from now on."""
    sent: list[str] = []
    send = socket.request

    async def counting(method, uri, **kwargs):
        sent.append(f"{method} {uri}")
        return await send(method, uri, **kwargs)

    socket.request = counting
    return sent


async def ready(sockets) -> None:
    for _ in range(100):
        if all(socket.takes_rest for socket in sockets):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("an originate socket does not take REST")


async def test_calls_originate_over_their_own_sockets_and_send_the_rest_over_the_events_one(
        service, api, account, callbacks, phone):
    originators = service.ari.originators
    assert service.ari.events.takes_rest and len(originators) > 1
    await ready(originators)
    http = count_http(service)
    events = count_websocket(service.ari.events)
    originates = [count_websocket(socket) for socket in originators]
    phone("answer_dtmf", keys="1234#", calls=2)
    assert await verify(api, account, callbacks) == expected("1", "1")
    second = await verify(api, account, callbacks, phone_number="5551230002")
    assert (second["match"], second["phone_number"]) == ("1", "5551230002")
    await asyncio.sleep(1)
    assert http == []
    assert sorted(len(sent) for sent in originates)[-2:] == [1, 1]  # in turn, one each
    assert all(line == "POST channels" for sent in originates for line in sent)
    assert events and not any(line == "POST channels" for line in events)


async def test_originates_go_over_http_while_no_originate_socket_takes_rest(
        service, api, account, callbacks, phone):
    # As after a probe that found no REST there: dropping them instead would race
    # their reconnection (a quarter second) against the originate. Their own
    # probes are settled first (a late answer sets carries_rest again).
    await ready(service.ari.originators)
    for socket in service.ari.originators:
        socket.carries_rest = False
    assert not any(socket.takes_rest for socket in service.ari.originators)
    http = count_http(service)
    phone("answer_dtmf", keys="1234#")
    assert await verify(api, account, callbacks) == expected("1", "1")
    assert [line for line in http if line.startswith("POST")][:1] == [
        f"POST {service.ari.rest.base_url}/channels"]


async def test_a_call_works_over_http_when_asterisk_does_not_take_rest_on_the_websocket(
        settings, asterisk_clean, api, callbacks, phone, monkeypatch):
    async def no_rest_over_websocket(self, socket) -> None:
        return None  # as an Asterisk older than 22.4 behaves

    monkeypatch.setattr(AriClient, "_try_rest_over_websocket", no_rest_over_websocket)
    async with Service(settings) as svc:
        assert not svc.ari.events.takes_rest
        assert not any(socket.takes_rest for socket in svc.ari.originators)
        http = count_http(svc)
        account = await svc.store.accounts.create("t", 5)
        phone("answer_dtmf", keys="1234#")
        assert await verify(api, account, callbacks) == expected("1", "1")
    assert any(line.startswith("POST") and line.endswith("/channels") for line in http)
    assert any("/play/" in line for line in http)


async def test_requests_fall_back_to_http_while_the_websocket_is_down(service):
    events = service.ari.events
    before = events.connections
    events.drop()
    await asyncio.sleep(0)
    http = count_http(service)
    assert isinstance(await service.ari.rest.channels(), list)
    assert http and http[0].startswith("GET")
    for _ in range(300):  # the reconnection, then its probe (asked again if late)
        if events.connections > before and events.takes_rest:
            break
        await asyncio.sleep(0.1)
    assert events.connections > before and events.takes_rest
