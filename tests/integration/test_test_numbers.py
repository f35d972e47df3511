"""The sandbox's test numbers end to end, no phone: HTTP request → real
Asterisk → the `testnumbers` loop leg back into the same Asterisk, whose
dialplan plays the number's part (RFC 4733 keys, SIP codes) → callback or
webhook. The results asserted here are the table in docs/test-numbers.md."""
from __future__ import annotations

import json

import aiohttp
import pytest

from api.admin import purge
from engine.webhook_fields import PASSWORD_CALL_FIELDS
from tests.integration.conftest import only_verification

PASSWORD_CALL = "/api/protected/api/auth/passwordcall"


@pytest.fixture
def settings(settings):
    """Short waits: a number that never answers rings for the ring window, and
    one that keys nothing is given one attempt. The inter-digit timeout stays
    above 0107's 2 s between keys."""
    return settings.replace(ring_timeout=4, password_ring_seconds=5, max_attempts=1,
                            first_digit_timeout=3, inter_digit_timeout=3)


async def reverse_verify(api, account, callbacks, number: str, code: str = "1234") -> dict:
    """A reverse verify to the 10-digit US `number`; the callback's parameters."""
    answer = await api.reverse_verify(api_key=account.api_key, country_code="1",
                                      phone_number=number, code=code,
                                      callback_url=callbacks.url, secret="s")
    assert answer == "0"
    return (await callbacks.next(timeout=40))["query"]


def callback(number: str, match: str, answered: str, reason: str = "") -> dict:
    return {"phone_number": number, "country_code": "1", "secret": "s", "match": match,
            "answered": answered, "reason": reason}


async def test_0100_with_the_right_code_matches(service, api, account, callbacks, clean_redis):
    assert await reverse_verify(api, account, callbacks, "2025550100") == callback(
        "2025550100", "1", "1")
    record = only_verification(clean_redis)
    assert record["outcome_digits_count"] == "4" and record["e164"] == "12025550100"


async def test_0100_with_another_code_is_answered_without_a_match(service, api, account,
                                                                  callbacks):
    assert await reverse_verify(api, account, callbacks, "2025550100", code="9999") == callback(
        "2025550100", "0", "1")


@pytest.mark.parametrize("number", ["2025550106", "2025550107"])
async def test_forwarded_and_slow_keying_numbers_match(service, api, account, callbacks,
                                                       number):
    assert await reverse_verify(api, account, callbacks, number) == callback(number, "1", "1")


@pytest.mark.parametrize("number", ["2025550101", "2025550108"])
async def test_numbers_that_key_nothing_are_answered_without_a_match(
        service, api, account, callbacks, clean_redis, number):
    assert await reverse_verify(api, account, callbacks, number) == callback(number, "0", "1")
    assert only_verification(clean_redis)["outcome_digits_count"] == "0"


@pytest.mark.parametrize("number,reason,cause,sip", [
    ("2025550102", "5", "17", "486"), ("2025550103", "1", "21", "603"),
    ("2025550104", "3", "19", "0"), ("2025550105", "8", "34", "503")])
async def test_unanswered_numbers_give_the_reason(service, api, account, callbacks, clean_redis,
                                                  number, reason, cause, sip):
    assert await reverse_verify(api, account, callbacks, number) == callback(
        number, "0", "0", reason)
    record = only_verification(clean_redis)
    assert (record["outcome_cause"], record["outcome_sip_status"]) == (cause, sip)


@pytest.fixture
async def password_call(service, api, callbacks):
    """Place a password call (with the redirect check) from an account with a
    webhook: the API's answer and the webhook's record."""
    account = await service.store.accounts.create("mcn", 100000)
    await service.store.accounts.set_webhook(account.account_id, "password_call", callbacks.url,
                                             list(PASSWORD_CALL_FIELDS))

    async def call(number: str) -> tuple[dict, dict]:
        body = {"phone_number": number, "verification_code": "1234", "is_with_redirect": True}
        headers = {"Authorization": f"Bearer {account.token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(api.base + PASSWORD_CALL, json=body, headers=headers) as resp:
                assert resp.status == 200
                answer = await resp.json()
        received = await callbacks.next(timeout=40)
        assert received["method"] == "POST"
        return answer, json.loads(received["body"])
    return call


@pytest.mark.parametrize("number,q931,final,redirect", [
    ("12025550100", 16, "ANSWER", False), ("12025550101", 16, "ANSWER", False),
    ("12025550102", 17, "CANCEL", False), ("12025550103", 21, "CANCEL", False),
    ("12025550104", 16, "CANCEL", False), ("12025550105", 34, "CANCEL", False),
    ("12025550106", 16, "ANSWER", True), ("12025550107", 16, "ANSWER", False),
    ("12025550108", 16, "ANSWER", False)])
async def test_password_call_to_each_number(service, password_call, number, q931, final,
                                            redirect):
    answer, record = await password_call(number)
    assert answer["ok"] is True and answer["is_redirect"] is redirect
    assert (record["q931_status"], record["final_status"]) == (q931, final)
    assert record["is_redirect"] is redirect
    assert bool(record["answer_time"]) is (final == "ANSWER")


async def test_0106_forwards_with_a_diversion_header(service, password_call):
    """The caller's side read the 181's Diversion header: Asterisk keeps the
    number it names in REDIRECTING(to) (a 181 without the header leaves that
    empty, though it is a redirect too)."""
    seen: list[str | None] = []
    rest = service.ari.rest
    real_play = rest.play

    async def play(channel_id, media, playback_id):
        if not seen:  # answered: what the 181 told this channel
            seen.append(await rest.channel_variable(channel_id, "REDIRECTING(to-num)"))
        return await real_play(channel_id, media, playback_id)
    rest.play = play
    answer, record = await password_call("12025550106")
    assert answer["is_redirect"] is True and record["is_redirect"] is True
    assert seen == ["12025550106"]


async def test_the_flood_window_applies_and_purge_lifts_it(service, api, account, callbacks):
    """A test number is flood-marked like any other (reverse verify answers 6);
    `callverify purge NUMBER` (api.admin.purge) lifts the mark and today's count."""
    params = {"api_key": account.api_key, "country_code": "1", "phone_number": "2025550102",
              "code": "1234", "callback_url": callbacks.url}
    assert await api.reverse_verify(**params) == "0"
    await callbacks.next(timeout=40)
    assert await api.reverse_verify(**params) == "6"
    assert (await purge(service.store, "12025550102"))["flood_marks"] >= 1
    assert await api.reverse_verify(**params) == "0"
    assert (await callbacks.next(timeout=40))["query"]["reason"] == "5"


class TestNumbersOff:
    @pytest.fixture
    def settings(self, settings):
        return settings.replace(test_numbers=False)

    async def test_a_test_number_goes_to_the_trunk(self, service, api, account, callbacks,
                                                   phone):
        sipp = phone("decline")
        assert await reverse_verify(api, account, callbacks, "2025550102") == callback(
            "2025550102", "0", "0", "1")
        assert sipp.invites[0].request_user == "12025550102"
