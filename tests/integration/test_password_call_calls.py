"""Password call end to end: JSON API → real Asterisk → sipp phone → webhook."""
from __future__ import annotations

import json

import aiohttp
import pytest

from engine.webhook_fields import PASSWORD_CALL_FIELDS

PATH = "/api/protected/api/auth/passwordcall"


@pytest.fixture
async def mcn(service, api, callbacks):
    """An account with a password_call webhook, and a way to call the API with its token."""
    account = await service.store.accounts.create("mcn", 100000)
    await service.store.accounts.set_webhook(account.account_id, "password_call", callbacks.url,
                                    list(PASSWORD_CALL_FIELDS))

    async def request(body: dict, token: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token or account.token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(api.base + PATH, json=body, headers=headers) as resp:
                return resp.status, await resp.json()

    request.account = account
    return request


def body(number: str = "15551230301", code: str | None = "1234", redirect: bool = False) -> dict:
    return {"phone_number": number, "verification_code": code, "is_with_redirect": redirect}


async def webhook(callbacks) -> dict:
    received = await callbacks.next(timeout=40)
    assert received["method"] == "POST"
    return json.loads(received["body"])


async def test_answered_call_shows_the_code_and_speaks_it_twice(service, mcn, callbacks, phone,
                                                                 settings):
    played = []
    real_play = service.ari.rest.play

    async def spy(channel_id, media, playback_id):
        played.append(list(media))
        return await real_play(channel_id, media, playback_id)
    service.ari.rest.play = spy
    sipp = phone("answer_silent")
    status, answer = await mcn(body())
    assert status == 200 and answer["ok"] is True
    assert answer["caller_number"] == settings.cli_prefix + "1234"
    assert answer["verification_code"] == "1234"
    record = await webhook(callbacks)
    invite = sipp.invites[0]
    assert invite.from_user.endswith("1234") and invite.from_user == answer["caller_number"]
    assert invite.pai_user == answer["caller_number"]
    assert [m for media in played for m in media].count("digits:1234") == 2
    assert (record["q931_status"], record["final_status"]) == (16, "ANSWER")
    assert record["answer_time"] and record["billsec"] >= 1
    assert record["verification_call_uuid"] == answer["verification_uuid"]
    assert record["caller_number"] == answer["caller_number"]


@pytest.mark.parametrize("scenario,q931", [("busy", 17), ("decline", 21), ("unavailable", 34)])
async def test_failed_calls_report_the_cause(service, mcn, callbacks, phone, scenario, q931):
    phone(scenario)
    status, _ = await mcn(body())
    assert status == 200
    record = await webhook(callbacks)
    assert (record["q931_status"], record["final_status"]) == (q931, "CANCEL")
    assert record["answer_time"] is None and record["billsec"] == 0


async def test_no_answer_is_cancelled_at_the_end_of_the_ring_window(service, mcn, callbacks,
                                                                     phone):
    await service.store.accounts.set_ring_seconds(mcn.account.account_id, 5)
    phone("ring_forever")
    assert (await mcn(body()))[0] == 200
    record = await webhook(callbacks)
    assert (record["q931_status"], record["final_status"]) == (16, "CANCEL")
    assert 4 <= record["duration"] <= 7


async def redirect_seen(mcn, callbacks, *, redirect: bool = True) -> tuple[bool, dict]:
    """Place a password call; the response's `is_redirect` and the webhook record."""
    status, answer = await mcn(body(redirect=redirect))
    assert status == 200 and answer["ok"] is True
    return answer["is_redirect"], await webhook(callbacks)


async def test_forwarded_phone_is_reported_as_redirect(service, mcn, callbacks, phone):
    phone("forwarded")  # 181 + Diversion, then 200 at once
    assert (await redirect_seen(mcn, callbacks))[0] is True


@pytest.mark.parametrize("scenario, seen", [
    ("forwarded", True), ("forwarded_history", True), ("forwarded_bare", True),
    ("diverted_ringing", False)])
async def test_forwarded_phone_that_rings_before_answering(service, mcn, callbacks, phone,
                                                           scenario, seen):
    """181 (with Diversion, History-Info or neither), 180, then 200 a second
    later: the response is decided at the ring, and agrees with the webhook.
    Asterisk reads no Diversion from a 180 (README: which responses count)."""
    phone(scenario, ring_ms=1000)
    is_redirect, record = await redirect_seen(mcn, callbacks)
    assert (is_redirect, record["is_redirect"]) == (seen, seen)
    assert record["final_status"] == "ANSWER"


async def test_forwarded_phone_that_rings_out(service, mcn, callbacks, phone):
    await service.store.accounts.set_ring_seconds(mcn.account.account_id, 4)
    phone("forwarded", ring_ms=30000)
    is_redirect, record = await redirect_seen(mcn, callbacks)
    assert (is_redirect, record["is_redirect"]) == (True, True)
    assert (record["q931_status"], record["final_status"]) == (16, "CANCEL")


async def test_forwarded_phone_that_is_busy(service, mcn, callbacks, phone):
    """181 + Diversion, then 486: no ring, no answer; the ended call is judged."""
    phone("forwarded_busy")
    is_redirect, record = await redirect_seen(mcn, callbacks)
    assert (is_redirect, record["is_redirect"]) == (True, True)
    assert (record["q931_status"], record["final_status"]) == (17, "CANCEL")


async def test_moved_phone_is_a_redirect_that_asterisk_does_not_follow(service, mcn, callbacks,
                                                                       phone):
    """302 Moved Temporarily: Asterisk names the new target (Dial `forward`) and
    ends the call with cause 23 rather than dialling it."""
    sipp = phone("redirect")
    is_redirect, record = await redirect_seen(mcn, callbacks)
    assert (is_redirect, record["is_redirect"]) == (True, True)
    assert (record["q931_status"], record["final_status"]) == (23, "CANCEL")
    assert sipp.invite_count == 1


async def test_plain_phone_is_not_a_redirect(service, mcn, callbacks, phone):
    phone("answer_silent", ring_ms=1000, hangup_ms=None)
    is_redirect, record = await redirect_seen(mcn, callbacks)
    assert (is_redirect, record["is_redirect"]) == (False, False)


async def test_without_the_check_the_answer_is_false_and_the_webhook_says_what_it_saw(
        service, mcn, callbacks, phone):
    phone("forwarded", ring_ms=1000)
    is_redirect, record = await redirect_seen(mcn, callbacks, redirect=False)
    assert (is_redirect, record["is_redirect"]) == (False, True)


async def test_empty_code_gets_a_random_one_in_the_caller_number(service, mcn, callbacks,
                                                                 phone, settings):
    sipp = phone("busy")
    status, answer = await mcn(body(code=""))
    assert status == 200
    code = answer["verification_code"]
    assert len(code) == 4 and code.isdigit()
    await webhook(callbacks)
    assert sipp.invites[0].from_user == settings.cli_prefix + code


async def test_webhook_carries_exactly_the_configured_fields(service, mcn, callbacks, phone):
    await service.store.accounts.set_webhook(mcn.account.account_id, "password_call", callbacks.url,
                                    ["verification_call_uuid", "q931_status", "final_status"])
    phone("busy")
    _, answer = await mcn(body())
    assert await webhook(callbacks) == {"verification_call_uuid": answer["verification_uuid"],
                                        "q931_status": 17, "final_status": "CANCEL"}


async def test_insufficient_balance_places_no_call_and_reports_41(service, mcn, callbacks, phone):
    poor = await service.store.accounts.create("poor", 0)
    await service.store.accounts.set_webhook(poor.account_id, "password_call", callbacks.url,
                                    list(PASSWORD_CALL_FIELDS))
    sipp = phone("busy")
    status, answer = await mcn(body(), token=poor.token)
    assert answer["ok"] is False and status == 402
    record = await webhook(callbacks)
    assert record["q931_status"] == 41 and record["final_status"] == "CANCEL"
    assert sipp.invite_count == 0
