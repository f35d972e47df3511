"""Reverse verify end to end: HTTP request → real Asterisk → sipp phone → callback."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest

from engine import verifications
from engine.flows.call import EVENTS_READ
from tests.integration.conftest import only_verification, record_figure

NUMBER = "5551230001"


def request(account, callback_url: str, **extra) -> dict:
    params = {"api_key": account.api_key, "phone_number": NUMBER, "country_code": "1",
              "code": "1234", "callback_url": callback_url, "secret": "WeBuildThisCity"}
    params.update(extra)
    return params


async def verify(api, account, callbacks, **extra) -> dict:
    assert await api.reverse_verify(**request(account, callbacks.url, **extra)) == "0"
    return (await callbacks.next(timeout=40))["query"]


def expected(match: str, answered: str, reason: str = "", secret: str = "WeBuildThisCity") -> dict:
    return {"phone_number": NUMBER, "country_code": "1", "secret": secret,
            "match": match, "answered": answered, "reason": reason}


async def test_right_code_then_pound(service, api, account, callbacks, phone, clean_redis):
    sipp = phone("answer_dtmf", keys="1234#")
    assert await api.reverse_verify(**request(account, callbacks.url)) == "0"
    sent = asyncio.get_running_loop().time()
    callback = await callbacks.next(timeout=40)
    assert callback["method"] == "GET"
    assert callback["query"] == expected("1", "1")
    record = only_verification(clean_redis)
    assert record["outcome_attempts"] == "1" and record["outcome_digits_count"] == "4"
    assert "1234" not in record.values()
    invite = sipp.invites[0]
    assert invite.request_user == "15551230001"
    created = float(record["created_at"])
    record_figure("request_to_invite_ms", (invite.time - created) * 1000)
    record_figure("last_digit_to_callback_ms",
                  (callback["time"] - float(record["outcome_last_digit_at"])) * 1000)
    del sent


@pytest.fixture
def seen(service) -> list[str]:
    """The types of the events Asterisk sends the service from now on."""
    types: list[str] = []
    stream = service.ari.events
    deliver = stream._on_event

    def counting(event: dict) -> None:
        types.append(event["type"])
        deliver(event)

    stream._on_event = counting
    return types


async def test_asterisk_sends_only_the_events_a_call_reads(service, api, account, callbacks,
                                                           phone, seen):
    """The ARI event filter holds: 18 events a call unfiltered, only the read types here."""
    phone("answer_dtmf", keys="1234#")
    assert await verify(api, account, callbacks) == expected("1", "1")
    await asyncio.sleep(1)  # the hang-up events after the callback
    assert set(seen) <= set(EVENTS_READ)
    assert {"StasisStart", "ChannelDtmfReceived", "PlaybackFinished", "Dial"} <= set(seen)
    assert "PlaybackStarted" not in seen and "ChannelStateChange" not in seen


async def test_a_far_end_hang_up_is_told_by_channel_destroyed_alone(service, api, account,
                                                                    callbacks, phone, seen):
    phone("answer_hangup", hangup_ms=1000)
    assert await verify(api, account, callbacks) == expected("0", "1")
    assert "ChannelDestroyed" in seen
    assert "ChannelHangupRequest" not in seen and "StasisEnd" not in seen


async def test_right_code_without_pound(service, api, account, callbacks, phone):
    phone("answer_dtmf", keys="1234")
    assert await verify(api, account, callbacks) == expected("1", "1")


async def test_repeated_digit_code(service, api, account, callbacks, phone):
    phone("answer_dtmf", keys="1111#")
    assert await verify(api, account, callbacks, code="1111") == expected("1", "1")


async def test_secret_is_optional_and_comes_back_empty(service, api, account, callbacks, phone):
    phone("answer_dtmf", keys="1234#")
    params = request(account, callbacks.url)
    del params["secret"]
    assert await api.reverse_verify(**params) == "0"
    assert (await callbacks.next(timeout=40))["query"] == expected("1", "1", secret="")


async def test_wrong_then_right(service, api, account, callbacks, phone, clean_redis):
    phone("answer_dtmf", keys="9999#,1234#")
    assert await verify(api, account, callbacks) == expected("1", "1")
    assert only_verification(clean_redis)["outcome_attempts"] == "2"


async def test_wrong_three_times(service, api, account, callbacks, phone, clean_redis):
    phone("answer_dtmf", keys="9999#,8888#,7777#")
    assert await verify(api, account, callbacks) == expected("0", "1")
    assert only_verification(clean_redis)["outcome_attempts"] == "3"


async def test_hang_up_during_prompt(service, api, account, callbacks, phone):
    phone("answer_hangup", hangup_ms=1000)
    assert await verify(api, account, callbacks) == expected("0", "1")


@pytest.mark.parametrize("scenario,reason,cause,sip", [
    ("busy", "5", "17", "486"), ("unavailable", "8", "34", "503"),
    ("decline", "1", "21", "603"), ("ring_forever", "3", "19", "0"),
])
async def test_unanswered_calls_give_the_reason(service, api, account, callbacks, phone,
                                                 scenario, reason, cause, sip, clean_redis):
    phone(scenario)
    assert await verify(api, account, callbacks) == expected("0", "0", reason)
    record = only_verification(clean_redis)
    assert record["outcome_answered"] == "0"
    assert (record["outcome_cause"], record["outcome_sip_status"]) == (cause, sip)


async def test_caller_id_given_and_default(service, api, account, callbacks, phone):
    await service.store.accounts.add_caller_id(account.account_id, "14155550100")
    first = phone("busy")
    await verify(api, account, callbacks, caller_id="14155550100")
    first.stop()
    second = phone("busy")
    await verify(api, account, callbacks, phone_number="5551230002")
    assert first.invites[0].from_user == "14155550100"
    assert second.invites[0].from_user == "0000000000"


async def test_a_job_older_than_max_queue_seconds_is_not_dialled(service, api, account,
                                                                 callbacks, phone, clean_redis,
                                                                 monkeypatch):
    """Expiry end to end: a verification accepted (by its record) longer ago
    than max_queue_seconds gets reason 0 and its price back; the phone never rings."""
    sipp = phone("answer_dtmf", keys="1234#")
    then = time.time() - service.settings.max_queue_seconds - 5
    monkeypatch.setattr(verifications, "time", SimpleNamespace(time=lambda: then))
    assert await verify(api, account, callbacks) == expected("0", "0", "0")
    record = only_verification(clean_redis)
    assert record["outcome_failure"] == "expired" and "channel_id" not in record
    assert (await service.store.accounts.get(account.account_id)).credits == 100
    await asyncio.sleep(1)
    assert sipp.invite_count == 0
