"""/v1 verifications end to end: HTTP → real Asterisk → the sandbox's test
numbers or a sipp phone → the signed `verification.*` events and the object's
status and call diagnostics (GET)."""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from engine.flows import voice
from engine.locales import spoken_digits
from tests.integration.conftest import outcome_of
from tests.integration.play_spy import plays  # noqa: F401  (a fixture)
from tests.integration.test_signed_deliveries import SigningSink, verifies


@pytest.fixture
def settings(settings):
    """As the test numbers' tests: short waits, one attempt at the code."""
    return settings.replace(ring_timeout=4, password_ring_seconds=5, max_attempts=1,
                            first_digit_timeout=3, inter_digit_timeout=3)


@pytest.fixture
async def webhook():
    receiver = SigningSink()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def site():
    """The request's own callback_url."""
    receiver = SigningSink()
    await receiver.start()
    yield receiver
    await receiver.stop()


class Client:
    def __init__(self, base: str, token: str, account_id: str, secret: str) -> None:
        self.base, self.token, self.account_id, self.secret = base, token, account_id, secret

    async def create(self, body: dict, key: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        async with aiohttp.ClientSession() as http:
            async with http.post(self.base + "/v1/verifications", json=body,
                                 headers=headers) as resp:
                return resp.status, await resp.json(content_type=None)

    async def read(self, verification_id: str) -> dict:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.base}/v1/verifications/{verification_id}",
                                headers={"Authorization": f"Bearer {self.token}"}) as resp:
                assert resp.status == 200
                return await resp.json()


@pytest.fixture
async def client(service, api, webhook) -> Client:
    """An account whose `verification` webhook goes to `webhook`."""
    account = await service.store.accounts.create("site", 1000)
    await service.store.accounts.set_webhook(account.account_id, "verification", webhook.url, [])
    secret = await service.store.webhook_secrets.current(account.account_id)
    return Client(api.base, account.token, account.account_id, secret)


async def event(receiver: SigningSink, secret: str) -> dict:
    """The next event the receiver got, its signature checked."""
    received = await receiver.next(timeout=40)
    assert received["method"] == "POST" and verifies(secret, received)
    return json.loads(received["body"])


async def final_event(receiver: SigningSink, secret: str) -> dict:
    """The event that ends the verification, after the call's progress events
    (ringing and answered, in that order, for the calls that got that far)."""
    seen = []
    while (sent := await event(receiver, secret))["type"] in PROGRESS:
        seen.append(sent["type"])
    assert seen == PROGRESS[:len(seen)], seen
    return sent


PROGRESS = ["verification.ringing", "verification.answered"]


async def ended(redis_url: str, verification_id: str, timeout: float = 40) -> dict:
    """The record once its call has its verdict (the engine writes it)."""
    deadline = time.monotonic() + timeout
    while (record := outcome_of(redis_url, verification_id)).get("status") != "done":
        assert time.monotonic() < deadline, record.get("status")
        await asyncio.sleep(0.1)
    return record


async def test_keypad_with_the_right_code_is_verified(client, webhook, site):
    status, created = await client.create({"phone": "+12025550100", "channel": "keypad",
                                           "code": "1234", "callback_url": site.url})
    assert status == 201 and created["status"] == "queued"
    for receiver in (webhook, site):  # both signed with the account's secret
        sent = await final_event(receiver, client.secret)
        assert sent["type"] == "verification.verified"
        assert sent["data"]["id"] == created["id"] and sent["data"]["status"] == "verified"
    read = await client.read(created["id"])
    assert (read["status"], read["failure_reason"], read["answered"]) == ("verified", None, True)
    assert read["attempts"] == 1 and read["answered_at"]  # (the call may still say goodbye)
    assert read["post_dial_delay_ms"] is not None and read["ring_ms"] is not None


async def test_keypad_with_a_wrong_code_fails(client, webhook):
    status, created = await client.create({"phone": "+12025550100", "channel": "keypad",
                                           "code": "9999"})
    assert status == 201
    sent = await final_event(webhook, client.secret)
    assert sent["type"] == "verification.failed"
    assert (sent["data"]["status"], sent["data"]["failure_reason"]) == ("failed", "wrong_code")
    read = await client.read(created["id"])
    assert (read["status"], read["failure_reason"]) == ("failed", "wrong_code")


async def test_a_busy_phone_shows_in_the_diagnostics(client, webhook):
    """12025550102 answers 486 Busy Here."""
    status, created = await client.create({"phone": "+12025550102", "channel": "keypad"})
    assert status == 201
    sent = await final_event(webhook, client.secret)
    assert sent["type"] == "verification.failed"
    read = await client.read(created["id"])
    assert (read["status"], read["failure_reason"]) == ("failed", "busy")
    assert (read["sip_status"], read["q850_cause"], read["answered"]) == (486, 17, False)
    assert read["answered_at"] is None and read["duration_s"] is None


async def test_caller_id_calls_from_a_number_ending_in_the_code(client, phone, settings,
                                                               clean_redis):
    sipp = phone("answer_silent")
    status, created = await client.create({"phone": "+15551230301", "channel": "caller_id"})
    assert status == 201
    code, caller = created["code"], created["caller_number"]
    assert caller == "+" + settings.cli_prefix + code
    await ended(clean_redis, created["id"])
    assert [invite.from_user for invite in sipp.invites] == [caller[1:]]
    read = await client.read(created["id"])
    # The code reached the phone: the verification waits for the site's check.
    assert (read["status"], read["answered"], read["checks_left"]) == ("answered", True, 5)
    assert "code" not in read


async def test_two_identical_requests_with_a_key_place_one_call(client, phone, clean_redis):
    sipp = phone("answer_silent")
    body = {"phone": "+15551230302", "channel": "caller_id", "code": "4321"}
    answers = await asyncio.gather(client.create(body, key="signup-1"),
                                   client.create(body, key="signup-1"))
    assert [status for status, _ in answers] == [201, 201]
    assert answers[0][1]["id"] == answers[1][1]["id"]
    await ended(clean_redis, answers[0][1]["id"])
    assert len(sipp.invites) == 1
    status, again = await client.create(body, key="signup-1")  # after the call: the same one
    assert status == 201 and again["id"] == answers[0][1]["id"]
    assert len(sipp.invites) == 1


@pytest.mark.parametrize("locale,lang", [("de", "de"), ("en", None)])
async def test_voice_says_the_code_in_the_locale_asked(service, client, phone, plays,
                                                       clean_redis, locale, lang):
    """The account's default locale (French here) is for requests that name
    none: a request for English gets English. (The phone hangs up once the
    code's announcement was asked for: tests/integration/test_voice_calls.py
    follows whole voice calls.)"""
    await service.store.accounts.set_locale(client.account_id, "fr")
    sipp = phone("answer_hangup", hangup_ms=3000)
    status, created = await client.create({"phone": "+15551230303", "channel": "voice",
                                           "locale": locale})
    assert status == 201 and created["locale"] == locale and len(created["code"]) == 6
    await ended(clean_redis, created["id"])
    assert await asyncio.to_thread(sipp.wait, 90) == 0
    once = ["sound:callverify/your-code-is", *spoken_digits(created["code"])]
    assert plays[0].media == once + [voice.BETWEEN_TIMES] + once
    assert {played.lang for played in plays} == {lang}
    read = await client.read(created["id"])
    assert (read["status"], read["answered"], read["checks_left"]) == ("answered", True, 5)
