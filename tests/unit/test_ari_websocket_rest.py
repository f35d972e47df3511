"""REST over the ARI WebSocket when Asterisk misbehaves (a fake ARI; the real
one is in tests/integration/test_ari_rest_transport.py)."""
from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import ClientConnectionResetError, WSMsgType, web

from engine.ari.client import AriClient
from engine.ari.rest import AriError
from tests.conftest import free_port


class FakeAri:
    """Answers RESTRequests per `behaviour`: "answer", "silent" or "close"."""

    def __init__(self, behaviour: str, unanswered_probes: int = 0) -> None:
        self.behaviour = behaviour
        self.unanswered_probes = unanswered_probes  # a busy (or pre-22.4) Asterisk
        self.port = free_port()
        self.requests: list[dict] = []
        self._runner: web.AppRunner | None = None

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            sent = json.loads(message.data)
            self.requests.append(sent)
            if sent["uri"].startswith("applications/") and self.unanswered_probes > 0:
                self.unanswered_probes -= 1
            elif sent["uri"].startswith("applications/"):  # the client's probe
                await ws.send_json({"type": "RESTResponse", "request_id": sent["request_id"],
                                    "status_code": 200, "message_body": "{}"})
            elif self.behaviour == "answer":
                await ws.send_json({"type": "RESTResponse", "request_id": sent["request_id"],
                                    "status_code": 404,
                                    "message_body": '{"message": "Channel not found"}'})
            elif self.behaviour == "close":
                await ws.close()
        return ws

    async def _http(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._http)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()


async def until(condition, seconds: float) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


@pytest.fixture
async def client(request):
    fake = FakeAri(request.param)
    await fake.start()
    ari = AriClient(f"http://127.0.0.1:{fake.port}", "u", "p", "app")
    ari.rest._timeout = type(ari.rest._timeout)(total=1.0)
    await ari.start(wait=5)
    await until(lambda: ari.events.takes_rest, 1)
    yield ari, fake
    await ari.stop()
    await fake.stop()


@pytest.mark.parametrize("client", ["answer"], indirect=True)
async def test_an_error_status_comes_back_as_ari_error(client):
    ari, fake = client
    with pytest.raises(AriError) as caught:
        await ari.rest.request("POST", "/channels/x/play/p1", params={"media": ["a", "b"]})
    assert caught.value.status == 404 and "Channel not found" in str(caught.value)
    sent = fake.requests[-1]
    assert sent["uri"] == "channels/x/play/p1"
    assert sent["query_strings"] == [{"name": "media", "value": "a,b"}]
    assert await ari.rest.hang_up("x") is False  # 404 on hang-up: already gone


@pytest.mark.parametrize("client", ["silent"], indirect=True)
async def test_no_answer_is_a_transport_error_after_the_timeout(client):
    ari, _ = client
    with pytest.raises(AriError) as caught:
        await ari.rest.request("DELETE", "/channels/x")
    assert caught.value.status == 0 and "TimeoutError" in str(caught.value)


@pytest.mark.parametrize("client", ["close"], indirect=True)
async def test_a_socket_closing_under_a_request_fails_it_at_once(client):
    ari, _ = client
    started = asyncio.get_running_loop().time()
    with pytest.raises(AriError) as caught:
        await ari.rest.request("DELETE", "/channels/x")
    assert caught.value.status == 0 and "ConnectionError" in str(caught.value)
    assert asyncio.get_running_loop().time() - started < 0.9  # not the 1 s timeout
    # While the socket is down, requests go over HTTP.
    assert not ari.events.takes_rest
    assert await ari.rest.channels() == []


@pytest.mark.parametrize("client", ["answer"], indirect=True)
async def test_a_request_the_closing_socket_cannot_send_goes_over_http(client, monkeypatch):
    """Between the `takes_rest` check and the send the socket can start closing
    (aiohttp then refuses the write): the request was never sent, so HTTP takes it."""
    ari, fake = client
    sent_before = len(fake.requests)

    async def closing(*args, **kwargs):
        raise ClientConnectionResetError("Cannot write to closing transport")

    monkeypatch.setattr(ari.events._ws, "send_str", closing)
    assert ari.events.takes_rest
    assert await ari.rest.channels() == []  # the fake's HTTP answer
    assert len(fake.requests) == sent_before


def probes(fake: FakeAri) -> list[dict]:
    return [sent for sent in fake.requests if sent["uri"].startswith("applications/")]


@pytest.mark.parametrize("unanswered, carries", [(1, True), (2, True), (3, False)])
async def test_a_late_answer_to_the_probe_is_asked_again_in_the_background(unanswered,
                                                                           carries):
    fake = FakeAri("answer", unanswered_probes=unanswered)
    await fake.start()
    ari = AriClient(f"http://127.0.0.1:{fake.port}", "u", "p", "app", originate_sockets=0)
    ari.probe_timeouts = (0.2, 0.3, 0.4)
    try:
        await ari.start(wait=5)
        assert await until(lambda: len(probes(fake)) >= min(unanswered + 1, 3), 3)
        assert await until(lambda: ari.events.takes_rest, 1) is carries
        await asyncio.sleep(0.5)  # no ask after the answer, none after the last
        assert len(probes(fake)) == min(unanswered + 1, 3)
        if not carries:
            assert await ari.rest.channels() == []  # over HTTP
    finally:
        await ari.stop()
        await fake.stop()
