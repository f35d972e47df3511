"""Account administration through the real `callverify` console script:
credit amounts bounded, balances never negative (nor past what the accept
step can count exactly), and api_key / token rotation against the real API."""
from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from engine.accounts import MAX_BALANCE
from engine.keys import api_key_index
from tests.integration.api_harness import CALLVERIFY, callverify, serve_api
from tests.integration.test_api_password_call import SEED_BODY, PasswordCallClient
from tests.integration.test_api_return_codes import ApiClient

MAX_CREDIT = 10**12


def create(env: dict, credits: int | str = 0) -> dict:
    return json.loads(callverify(env, "account", "create", "--name", "acme",
                                 "--credits", str(credits)))


def balance(env: dict, account_id: str) -> int:
    return json.loads(callverify(env, "account", "show", account_id))["credits"]


@pytest.mark.parametrize("credits", [str(MAX_CREDIT + 1), "99999999999999999999", "-1"])
def test_create_refuses_credits_out_of_bounds(cli_env, credits):
    refused = callverify(cli_env, "account", "create", "--name", "a", "--credits", credits,
                         expect=2)
    assert f"--credits must be a whole number from 0 to {MAX_CREDIT:,}: {credits}" in refused
    assert redis.Redis.from_url(cli_env["CALLVERIFY_REDIS_URL"]).keys("cv:account:*") == []


def test_create_takes_zero_to_the_bound(cli_env):
    assert balance(cli_env, create(cli_env, 0)["account_id"]) == 0
    assert balance(cli_env, create(cli_env, MAX_CREDIT)["account_id"]) == MAX_CREDIT


@pytest.mark.parametrize("amount", ["-5000", "0", str(MAX_CREDIT + 1), "99999999999999999999"])
def test_credit_refuses_amounts_out_of_bounds(cli_env, amount):
    account_id = create(cli_env, 7)["account_id"]
    refused = callverify(cli_env, "account", "credit", account_id, amount, expect=2)
    assert f"the amount to credit must be a whole number from 1 to {MAX_CREDIT:,}" in refused
    if amount.startswith("-"):
        assert "callverify account debit" in refused
    assert balance(cli_env, account_id) == 7


def test_credit_adds_up_to_the_bound(cli_env):
    account_id = create(cli_env, 7)["account_id"]
    credited = json.loads(callverify(cli_env, "account", "credit", account_id, str(MAX_CREDIT)))
    assert credited["credits"] == MAX_CREDIT + 7


def test_a_balance_stays_within_what_the_accept_step_counts_exactly(cli_env):
    account_id = create(cli_env)["account_id"]
    redis.Redis.from_url(cli_env["CALLVERIFY_REDIS_URL"]).hset(
        f"cv:account:{account_id}", "credits", MAX_BALANCE - 5)
    refused = callverify(cli_env, "account", "credit", account_id, "6", expect=2)
    assert f"would pass the most a balance may hold ({MAX_BALANCE:,})" in refused
    assert json.loads(callverify(cli_env, "account", "credit", account_id, "5"))["credits"] \
        == MAX_BALANCE


def test_debit_takes_back_but_never_below_zero(cli_env):
    account_id = create(cli_env, 5)["account_id"]
    assert json.loads(callverify(cli_env, "account", "debit", account_id, "3"))["credits"] == 2
    refused = callverify(cli_env, "account", "debit", account_id, "3", expect=2)
    assert f"account {account_id} holds 2 credits: cannot take back 3" in refused
    for amount in ("0", "-1", str(MAX_CREDIT + 1)):
        assert "the amount to debit must be a whole number from 1" in callverify(
            cli_env, "account", "debit", account_id, amount, expect=2)
    assert balance(cli_env, account_id) == 2
    assert "unknown account '999'" in callverify(cli_env, "account", "debit", "999", "1",
                                                 expect=2)


def test_parallel_debits_stop_at_zero(cli_env):
    """Ten processes take 1 credit each from 5: five succeed, the balance is 0."""
    account_id = create(cli_env, 5)["account_id"]

    def debit(_) -> int:
        return subprocess.run([str(CALLVERIFY), "account", "debit", account_id, "1"],
                              env=cli_env, capture_output=True, timeout=30).returncode

    with ThreadPoolExecutor(10) as pool:
        statuses = sorted(pool.map(debit, range(10)))
    assert statuses == [0] * 5 + [2] * 5
    assert balance(cli_env, account_id) == 0


@pytest.fixture
async def reverse_api(clean_redis):
    async with serve_api(clean_redis, ApiClient) as start:
        yield await start()


@pytest.fixture
async def password_api(clean_redis):
    async with serve_api(clean_redis, PasswordCallClient, redirect_wait_seconds=0.5) as start:
        yield await start()


def stored_dump(env: dict) -> str:
    stored = redis.Redis.from_url(env["CALLVERIFY_REDIS_URL"])
    return repr([(key, stored.dump(key)) for key in stored.scan_iter()])


async def test_rotate_key_replaces_the_api_key_at_once(cli_env, reverse_api):
    created = create(cli_env, 10)
    account_id, old_key = created["account_id"], created["api_key"]
    assert await reverse_api.verify(old_key, "5551230001") == "0"
    rotated = json.loads(callverify(cli_env, "account", "rotate-key", account_id))
    assert set(rotated) == {"account_id", "api_key"} and rotated["account_id"] == account_id
    new_key = rotated["api_key"]
    assert new_key != old_key and len(new_key) == len(old_key)
    assert await reverse_api.verify(old_key, "5551230002") == "1"  # invalid api key
    assert await reverse_api.verify(new_key, "5551230002") == "0"
    # Printed this once: neither stored nor shown.
    assert new_key not in stored_dump(cli_env)
    assert new_key not in callverify(cli_env, "account", "show", account_id)


async def test_rotate_token_replaces_the_token_at_once(cli_env, password_api):
    created = create(cli_env, 1000)
    account_id, old_token = created["account_id"], created["token"]
    assert (await password_api.post(old_token))[0] == 200
    rotated = json.loads(callverify(cli_env, "account", "rotate-token", account_id))
    assert set(rotated) == {"account_id", "token"}
    new_token = rotated["token"]
    assert new_token != old_token
    status, body, _ = await password_api.post(old_token, {**SEED_BODY,
                                                          "phone_number": "421222202005"})
    assert (status, body["error"]) == (401, "unknown token")
    status, body, _ = await password_api.post(new_token, {**SEED_BODY,
                                                          "phone_number": "421222202005"})
    assert status == 200 and body["ok"] is True
    assert new_token not in stored_dump(cli_env)
    # The api_key still leads to the account (only the token was replaced).
    assert redis.Redis.from_url(cli_env["CALLVERIFY_REDIS_URL"]).get(
        api_key_index(created["api_key"])) == account_id.encode()


@pytest.mark.parametrize("action", ["rotate-key", "rotate-token"])
def test_rotating_an_unknown_account_is_a_clear_error(cli_env, action):
    assert "unknown account '999'" in callverify(cli_env, "account", action, "999", expect=2)
    assert redis.Redis.from_url(cli_env["CALLVERIFY_REDIS_URL"]).keys("cv:apikey:*") == []
