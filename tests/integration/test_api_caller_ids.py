"""Each account's caller-ID list through reverse verify, the password call,
the real console script and a real Redis: a caller_id not on the list is 4
and nothing is charged; emergency and short numbers are never listed or sent;
the default 0000000000 is always allowed."""
from __future__ import annotations

import json

import pytest

from engine.keys import caller_ids_key, flood_key
from tests.integration.api_harness import callverify, serve_api
from tests.integration.test_api_password_call import SEED_BODY, PasswordCallClient
from tests.integration.test_api_return_codes import ApiClient

LISTED = "15559876543"


@pytest.fixture
async def api(clean_redis) -> ApiClient:
    async with serve_api(clean_redis, ApiClient) as start:
        yield await start()


async def test_a_caller_id_not_listed_is_4_and_charges_nothing(api):
    account_id, api_key = await api.account(credits=5)
    assert await api.verify(api_key, caller_id=LISTED) == "4"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0
    assert await api.verifications() == []
    assert not await api.redis.exists(flood_key(account_id, "15551234567"))


async def test_a_caller_id_listed_by_the_command_is_sent(api, cli_env):
    account_id, api_key = await api.account(credits=5)
    listed = json.loads(callverify(cli_env, "account", "caller-id", "add", account_id, "+" + LISTED))
    assert listed == {"account_id": account_id, "caller_ids": [LISTED]}
    assert await api.verify(api_key, caller_id=LISTED) == "0"
    [verification] = await api.verifications()
    assert verification["caller_id"] == LISTED
    assert await api.credits(account_id) == 4


async def test_another_accounts_list_does_not_count(api):
    owner_id, _ = await api.account()
    _, other_key = await api.account()
    await api.store.accounts.add_caller_id(owner_id, LISTED)
    assert await api.verify(other_key, caller_id=LISTED) == "4"


@pytest.mark.parametrize("caller_id", [None, "0000000000"])
async def test_the_default_caller_id_needs_no_list(api, caller_id):
    account_id, api_key = await api.account(credits=5)
    extra = {"caller_id": caller_id} if caller_id else {}
    assert await api.verify(api_key, **extra) == "0"
    [verification] = await api.verifications()
    assert verification["caller_id"] == "0000000000"


@pytest.mark.parametrize("stored", ["911", "112", "12345", "19005551234"])
async def test_what_the_rules_refuse_is_4_even_if_listed(api, stored):
    account_id, api_key = await api.account(credits=5)
    await api.redis.sadd(caller_ids_key(account_id), stored)   # around the command's checks
    assert await api.verify(api_key, caller_id=stored) == "4"
    assert await api.credits(account_id) == 5
    assert await api.queued() == 0


async def test_removed_caller_id_is_4_again(api, cli_env):
    account_id, api_key = await api.account(credits=5)
    callverify(cli_env, "account", "caller-id", "add", account_id, LISTED)
    callverify(cli_env, "account", "caller-id", "add", account_id, "447911123456")
    assert json.loads(callverify(cli_env, "account", "caller-id", "list", account_id)) == {
        "account_id": account_id, "caller_ids": [LISTED, "447911123456"]}
    removed = json.loads(callverify(cli_env, "account", "caller-id", "remove", account_id, LISTED))
    assert removed["caller_ids"] == ["447911123456"]
    assert await api.verify(api_key, caller_id=LISTED) == "4"
    assert await api.verify(api_key, caller_id="447911123456") == "0"


async def test_the_caller_id_check_ranks_after_1_and_5_before_8(api):
    account_id, api_key = await api.account(credits=5)
    await api.store.dnc.add("15551234567")
    assert await api.verify("0123456789abcdef0123456789abcdef", caller_id=LISTED) == "1"
    assert await api.verify(api_key, caller_id=LISTED) == "4"                    # 4 before 3
    assert await api.verify(api_key, "301234567", country_code="49", caller_id=LISTED) == "4"
    assert await api.verify(api_key, "9005551234", caller_id=LISTED) == "4"      # 4 before 7
    await api.store.accounts.set_disabled(account_id, True)
    assert await api.verify(api_key, caller_id=LISTED) == "5"


@pytest.mark.parametrize("number, reason", [
    ("911", "is an emergency number"), ("112", "is an emergency number"),
    ("999", "is an emergency number"), ("80001", "is a short number"),
    ("19005551234", "is a premium-rate number"),
    ("4155550100", "is not a possible international number"),
    ("0000000000", "the default caller ID"), ("abc", "must be 1-15 digits")])
async def test_the_command_refuses_what_may_never_be_shown(api, cli_env, number, reason):
    account_id, _ = await api.account()
    assert reason in callverify(cli_env, "account", "caller-id", "add", account_id, number,
                                expect=2)
    assert await api.store.accounts.caller_ids(account_id) == []


@pytest.mark.parametrize("action", ["add", "remove"])
def test_the_command_for_an_unknown_account(cli_env, action):
    assert "unknown account '999'" in callverify(cli_env, "account", "caller-id", action, "999",
                                                 LISTED, expect=2)


async def test_the_password_calls_calling_number_is_not_subject_to_the_list(clean_redis):
    async with serve_api(clean_redis, PasswordCallClient, redirect_wait_seconds=0.5) as start:
        api = await start()
        account_id, token = await api.account()
        await api.store.accounts.add_caller_id(account_id, LISTED)
        status, body, _ = await api.post(token, {**SEED_BODY, "is_with_redirect": False})
        assert (status, body["caller_number"]) == (200, "42122221234")
