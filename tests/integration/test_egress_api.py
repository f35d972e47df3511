"""The egress guard at accept time, through the real API and the real
`callverify` console script against a real Redis: a callback or webhook URL
that may not be sent to is refused before anything is charged or stored."""
from __future__ import annotations

import json

import pytest

from tests.integration.api_harness import ServedApi, callverify, serve_api

REFUSED = [
    "http://127.0.0.1/cb", "http://127.0.0.1:8080/cb", "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/cb", "http://172.16.0.1/cb", "http://192.168.1.1/cb", "http://[::1]/cb",
    "http://[fd00::1]/cb", "http://[::ffff:127.0.0.1]/cb", "http://[64:ff9b::7f00:1]/cb",
    "http://100.64.0.1/cb", "http://0.0.0.0/cb", "http://224.0.0.1/cb", "http://0/cb",
    "http://2130706433/cb", "http://0177.0.0.1/cb", "http://0x7f.0.0.1/cb", "http://a%5Cb/cb",
    "http://ex\u00adample.com/cb", "http://user:pw@site.example/cb",
]


class ApiClient(ServedApi):
    DEFAULT_CREDITS = 5
    ACCOUNT_SECRET = "api_key"

    numbers = iter(range(5552000000, 5553000000))  # a new one each time: no flood answer

    async def verify(self, api_key: str, callback_url: str) -> str:
        params = {"api_key": api_key, "phone_number": str(next(self.numbers)),
                  "country_code": "1", "code": "4345", "callback_url": callback_url}
        async with self.http.get(self.base_url + "/api/reverse_verify/", params=params) as resp:
            assert (resp.status, resp.content_type) == (200, "text/plain")
            return await resp.text()


@pytest.fixture
async def serve(clean_redis):
    async with serve_api(clean_redis, ApiClient) as start:
        yield start


async def test_refused_callback_urls_answer_4_and_charge_nothing(serve):
    api = await serve()
    account_id, api_key = await api.account(credits=5)
    for url in REFUSED:
        assert await api.verify(api_key, url) == "4", url
    assert await api.credits(account_id) == 5
    assert await api.verifications() == [] and await api.queued() == 0
    assert await api.verify(api_key, "https://site.example/cb.php?order=7") == "0"
    assert await api.credits(account_id) == 4 and await api.queued() == 1


async def test_the_allow_list_opens_its_networks_at_accept_time(serve):
    api = await serve(egress_allow=("127.0.0.0/8", "10.1.0.0/16"))
    account_id, api_key = await api.account(credits=5)
    assert await api.verify(api_key, "http://127.0.0.1:8080/cb") == "0"
    assert await api.verify(api_key, "http://[::ffff:127.0.0.1]:8080/cb") == "0"
    assert await api.verify(api_key, "http://10.1.2.3/cb") == "0"
    for url in ("http://10.2.0.1/cb", "http://[::1]/cb", "http://169.254.169.254/"):
        assert await api.verify(api_key, url) == "4", url
    assert await api.credits(account_id) == 2


@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1/x", "127.0.0.1 is loopback"),
    ("http://[::1]:8080/x", "::1 is loopback"),
    ("http://169.254.169.254/latest", "169.254.169.254 is link-local"),
    ("http://user:pw@crm.example/x", "credentials"),
    ("http://2130706433/x", "not a valid host name"),
])
def test_webhook_set_refuses_a_url_it_may_not_send_to(cli_env, account_id, url, reason):
    error = callverify(cli_env, "webhook", "set", account_id, "--event", "password_call",
                       "--url", url, expect=2)
    assert "webhook URL refused" in error and reason in error
    callverify(cli_env, "webhook", "show", account_id, "--event", "password_call", expect=2)


def test_webhook_set_takes_an_allowed_internal_url(cli_env, account_id):
    allowed = {**cli_env, "CALLVERIFY_EGRESS_ALLOW": "127.0.0.0/8"}
    shown = json.loads(callverify(allowed, "webhook", "set", account_id, "--event",
                                  "password_call", "--url", "http://127.0.0.1/x"))
    assert shown["url"] == "http://127.0.0.1/x"
