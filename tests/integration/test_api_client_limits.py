"""Client limits through real HTTP against a real Redis: per key and token,
per client address (unknown keys and malformed requests included, clients
behind trusted proxies), the flood window per account and the daily cap per
number.

Requests come from several loopback addresses (127.0.0.1, 127.0.0.2, ...):
each is a client address of its own to the API.
"""
from __future__ import annotations

import asyncio
import calendar
import time

import aiohttp
import pytest

from engine.keys import daily_calls_key
from tests.integration.api_harness import ServedApi, serve_api

CODE = "739164"
PATH = "/api/reverse_verify/"
PASSWORD_CALL = "/api/protected/api/auth/passwordcall"
SLOVAK_NUMBER = "421222202004"


class LimitsClient(ServedApi):
    DEFAULT_CREDITS = 1000
    ACCOUNT_SECRET = "api_key"
    sessions: dict[str, aiohttp.ClientSession]

    def session(self, source: str) -> aiohttp.ClientSession:
        """A client session whose connections come from the address `source`."""
        if source not in self.sessions:
            self.sessions[source] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=(source, 0)))
        return self.sessions[source]

    async def close(self) -> None:
        for session in self.sessions.values():
            await session.close()

    async def verify(self, api_key: str, phone_number: str = "5551234567", *,
                     source: str = "127.0.0.1", headers: dict | None = None,
                     **params) -> tuple[int, str, str | None]:
        """The seed request from `source`: (HTTP status, body, Retry-After)."""
        query = {"api_key": api_key, "phone_number": phone_number, "country_code": "1",
                 "code": CODE, "callback_url": "http://site.example/cb.php", **params}
        async with self.session(source).get(self.base_url + PATH, params=query,
                                            headers=headers) as resp:
            assert resp.content_type == "text/plain"
            return resp.status, await resp.text(), resp.headers.get("Retry-After")

    async def password_call(self, token: str | None, phone_number: str = SLOVAK_NUMBER, *,
                            source: str = "127.0.0.1") -> tuple[int, dict, str | None]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = {"phone_number": phone_number, "verification_code": "1234",
                "is_with_redirect": False}
        async with self.session(source).post(self.base_url + PASSWORD_CALL, json=body,
                                             headers=headers) as resp:
            return resp.status, await resp.json(), resp.headers.get("Retry-After")

    async def credentials(self) -> tuple[str, str, str]:
        """A new funded account: (account id, api key, token)."""
        new = await self.store.accounts.create("acme", self.DEFAULT_CREDITS)
        return new.account_id, new.api_key, new.token


@pytest.fixture
async def serve(clean_redis):
    """`serve(**settings)`: the real API with those limits (off unless given)."""
    clients: list[LimitsClient] = []
    async with serve_api(clean_redis, LimitsClient) as start:
        async def started(**settings) -> LimitsClient:
            client = await start(**settings)
            client.sessions = {}
            clients.append(client)
            return client
        yield started
        for client in clients:
            await client.close()


def numbers(count: int, first: int = 5551230000) -> list[str]:
    return [str(n) for n in range(first, first + count)]


async def test_a_key_over_its_rate_is_429_6_with_retry_after_then_refilled(serve):
    api = await serve(rate_per_key="2/3")
    account_id, api_key, _ = await api.credentials()
    _, other_key, _ = await api.credentials()
    dialled = numbers(5)
    assert [await api.verify(api_key, n) for n in dialled[:3]] == [(200, "0", None)] * 3
    assert await api.verify(api_key, dialled[3]) == (429, "6", "1")  # a token every 0.5 s
    # Refused before anything is charged or queued; other keys go on.
    assert await api.credits(account_id) == 1000 - 3
    assert await api.queued() == 3
    assert await api.verify(other_key, dialled[3]) == (200, "0", None)
    await asyncio.sleep(0.6)
    assert await api.verify(api_key, dialled[4]) == (200, "0", None)
    assert (await api.verify(api_key, dialled[3]))[0] == 429


async def test_retry_after_is_the_whole_seconds_until_a_token(serve):
    api = await serve(rate_per_key="0.2/1")
    _, api_key, _ = await api.credentials()
    assert (await api.verify(api_key, "5551230001"))[0] == 200
    assert await api.verify(api_key, "5551230002") == (429, "6", "5")


async def test_the_address_limit_counts_unknown_keys(serve):
    api = await serve(rate_per_address="1/3")
    _, api_key, _ = await api.credentials()
    unknown = "0123456789abcdef0123456789abcdef"
    assert [await api.verify(unknown) for _ in range(3)] == [(200, "1", None)] * 3
    assert await api.verify(unknown) == (429, "6", "1")
    assert await api.verify(api_key) == (429, "6", "1")  # a good key from that address too
    assert await api.queued() == 0
    # Another client address has its own bucket.
    assert await api.verify(api_key, source="127.0.0.2") == (200, "0", None)


async def test_the_address_limit_counts_malformed_requests(serve):
    api = await serve(rate_per_address="1/3")
    _, api_key, _ = await api.credentials()
    malformed = [{"code": "1234567"}, {"country_code": "x"}, {"callback_url": "ftp://x"}]
    assert [await api.verify(api_key, **bad) for bad in malformed] == [(200, "4", None)] * 3
    assert await api.verify(api_key, code="1234567") == (429, "6", "1")
    assert await api.verify(api_key) == (429, "6", "1")
    # Refused lately: answered from memory, even with no parameters at all.
    async with api.session("127.0.0.1").get(api.base_url + PATH) as resp:
        assert (resp.status, await resp.text()) == (429, "6")


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(serve):
    api = await serve(rate_per_address="1/1", trusted_proxies=("127.0.0.2/32",))
    _, api_key, _ = await api.credentials()
    dialled = iter(numbers(10))

    async def verify(source: str, forwarded: str) -> int:
        status, _, _ = await api.verify(api_key, next(dialled), source=source,
                                        headers={"X-Forwarded-For": forwarded})
        return status

    # Not from the proxy: the header is the client's own word, and ignored.
    assert await verify("127.0.0.1", "203.0.113.5") == 200
    assert await verify("127.0.0.1", "203.0.113.6") == 429
    # From the proxy: each forwarded client has its own bucket...
    assert await verify("127.0.0.2", "203.0.113.5") == 200
    assert await verify("127.0.0.2", "203.0.113.6") == 200
    assert await verify("127.0.0.2", "203.0.113.5") == 429
    # ...and what a client puts left of the proxy's entry changes nothing.
    assert await verify("127.0.0.2", "198.51.100.1, 203.0.113.6") == 429


async def test_the_password_call_over_a_rate_is_429_rate_limited(serve):
    api = await serve(rate_per_key="1/1")
    account_id, _, token = await api.credentials()
    assert (await api.password_call(token, "421222202004"))[0] == 200
    assert await api.password_call(token, "421222202005") == (
        429, {"ok": False, "error": "rate limited"}, "1")
    assert await api.queued() == 1
    assert await api.credits(account_id) == 1000 - 83


async def test_the_password_calls_address_limit_counts_every_request(serve):
    api = await serve(rate_per_address="1/3")
    _, _, token = await api.credentials()
    assert (await api.password_call("unknown-token"))[0] == 401
    assert (await api.password_call(None))[0] == 401
    assert (await api.password_call(token, "12"))[0] == 400
    assert await api.password_call(token) == (429, {"ok": False, "error": "rate limited"}, "1")
    assert await api.queued() == 0
    assert (await api.password_call(token, source="127.0.0.2"))[0] == 200


async def test_the_flood_window_is_per_account(serve):
    api = await serve()
    _, first_key, first_token = await api.credentials()
    _, second_key, second_token = await api.credentials()
    assert (await api.verify(first_key))[:2] == (200, "0")
    assert (await api.verify(first_key))[:2] == (200, "6")
    assert (await api.verify(second_key))[:2] == (200, "0")
    assert (await api.password_call(first_token))[0] == 200
    assert (await api.password_call(first_token))[0] == 429
    assert (await api.password_call(second_token))[0] == 200
    assert await api.queued() == 4


async def test_the_daily_cap_per_number_holds_across_accounts(serve):
    api = await serve(daily_cap_per_number=2)
    keys = [(await api.credentials())[1] for _ in range(3)]
    assert (await api.verify(keys[0]))[:2] == (200, "0")
    assert (await api.verify(keys[1]))[:2] == (200, "0")
    assert (await api.verify(keys[2]))[:2] == (200, "6")
    assert (await api.verify(keys[2], "5551234568"))[:2] == (200, "0")
    assert await api.queued() == 3
    # The count ends with the UTC day.
    midnight = calendar.timegm(time.gmtime()[:3] + (0, 0, 0)) + 86400
    assert 0 < await api.redis.ttl(daily_calls_key("15551234567")) <= midnight - time.time() + 1


async def test_the_password_calls_daily_cap(serve):
    api = await serve(daily_cap_per_number=1)
    _, _, first_token = await api.credentials()
    second_id, _, second_token = await api.credentials()
    assert (await api.password_call(first_token))[0] == 200
    assert (await api.password_call(second_token))[:2] == (
        429, {"ok": False, "error": "daily cap: this number has had its calls for today (UTC)"})
    assert await api.credits(second_id) == 1000
    assert await api.queued() == 1
