"""An account's default locale (`callverify account locale ID LOCALE`): the
seed APIs' calls speak it; English stays as it always was."""
from __future__ import annotations

import json

import aiohttp

from engine.webhook_fields import PASSWORD_CALL_FIELDS
from tests.integration.api_harness import callverify
from tests.integration.conftest import only_verification
from tests.integration.play_spy import plays  # noqa: F401  (a fixture)


def test_the_locale_is_set_shown_and_checked_by_the_console_script(cli_env, account_id):
    assert json.loads(callverify(cli_env, "account", "locale", account_id)) == {
        "account_id": account_id, "locale": "en"}
    assert json.loads(callverify(cli_env, "account", "locale", account_id, "de"))["locale"] == "de"
    assert json.loads(callverify(cli_env, "account", "locale", account_id))["locale"] == "de"
    error = callverify(cli_env, "account", "locale", account_id, "xx", expect=2)
    assert "unknown locale 'xx'; known: en, de, fr, es" in error
    assert "unknown account" in callverify(cli_env, "account", "locale", "999999", "fr", expect=2)
    assert json.loads(callverify(cli_env, "account", "locale", account_id, "en"))["locale"] == "en"


async def test_reverse_verify_of_a_german_account_plays_the_german_prompts(
        service, api, account, callbacks, phone, plays, clean_redis):
    await service.store.accounts.set_locale(account.account_id, "de")
    phone("answer_dtmf", keys="9999#1234#", pause_ms=4000)
    assert await api.reverse_verify(api_key=account.api_key, phone_number="5551230001",
                                     country_code="1", code="1234", callback_url=callbacks.url,
                                     secret="s") == "0"
    assert (await callbacks.next(timeout=40))["query"]["match"] == "1"
    assert only_verification(clean_redis)["locale"] == "de"
    media = [played.media for played in plays]
    assert media == [["sound:callverify/enter-code"], ["sound:callverify/incorrect"],
                         ["sound:callverify/verified"]]
    assert {played.lang for played in plays} == {"de"}


async def test_password_call_of_a_french_account_says_the_code_with_french_digits(
        service, api, callbacks, phone, plays):
    account = await service.store.accounts.create("mcn", 100000)
    await service.store.accounts.set_webhook(account.account_id, "password_call", callbacks.url,
                                             list(PASSWORD_CALL_FIELDS))
    await service.store.accounts.set_locale(account.account_id, "fr")
    phone("answer_silent")
    body = {"phone_number": "15551230301", "verification_code": "1234",
            "is_with_redirect": False}
    async with aiohttp.ClientSession() as http:
        async with http.post(api.base + "/api/protected/api/auth/passwordcall", json=body,
                             headers={"Authorization": f"Bearer {account.token}"}) as resp:
            assert resp.status == 200
    assert json.loads((await callbacks.next(timeout=40))["body"])["final_status"] == "ANSWER"
    [played] = plays
    assert played.lang == "fr" and "digits:1234" not in played.media
    for digit in "1234":
        assert played.media.count(f"sound:callverify/digits/{digit}") == 2
