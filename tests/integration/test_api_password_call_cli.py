"""`callverify webhook ...` and `account ring-window` through the real console script."""
from __future__ import annotations

import json

import pytest
import redis

from engine.webhook_fields import PASSWORD_CALL_FIELDS
from tests.integration.api_harness import callverify

URL = "https://crm.example/hooks/cdr?source=callverify"


def stored_webhook(env: dict, account_id: str) -> dict:
    client = redis.Redis.from_url(env["CALLVERIFY_REDIS_URL"], decode_responses=True)
    try:
        return client.hgetall(f"cv:webhook:{account_id}:password_call")
    finally:
        client.close()


def test_webhook_set_show_delete(cli_env, account_id):
    shown = json.loads(callverify(cli_env, "webhook", "set", account_id, "--event",
                                  "password_call", "--url", URL))
    assert shown == {"account_id": account_id, "event": "password_call", "url": URL,
                     "fields": list(PASSWORD_CALL_FIELDS)}
    assert json.loads(stored_webhook(cli_env, account_id)["fields"]) == list(PASSWORD_CALL_FIELDS)
    assert json.loads(callverify(cli_env, "webhook", "show", account_id,
                                 "--event", "password_call")) == shown

    callverify(cli_env, "webhook", "set", account_id, "--event", "password_call", "--url", URL,
               "--fields", "q931_status, final_status,verification_call_uuid")
    shown = json.loads(callverify(cli_env, "webhook", "show", account_id, "--event", "password_call"))
    assert shown["fields"] == ["q931_status", "final_status", "verification_call_uuid"]

    deleted = json.loads(callverify(cli_env, "webhook", "delete", account_id,
                                    "--event", "password_call"))
    assert deleted == {"account_id": account_id, "event": "password_call", "deleted": True}
    assert stored_webhook(cli_env, account_id) == {}
    error = callverify(cli_env, "webhook", "show", account_id, "--event", "password_call", expect=2)
    assert "no password_call webhook" in error


@pytest.mark.parametrize("args, message", [
    (["--url", "ftp://crm.example/cdr"], "http(s)"),
    (["--url", "crm.example/cdr"], "http(s)"),
    (["--url", "http:///cdr"], "http(s)"),
    (["--url", URL, "--fields", "q931_status,secret"], "'secret'"),
    (["--url", URL, "--fields", ""], "field"),
    (["--url", URL, "--fields", "cost,,billsec"], "field"),
])
def test_webhook_set_rejects_bad_urls_and_unknown_fields(cli_env, account_id, args, message):
    error = callverify(cli_env, "webhook", "set", account_id, "--event", "password_call",
                       *args, expect=2)
    assert message in error
    assert stored_webhook(cli_env, account_id) == {}


def test_webhook_commands_need_a_known_account_and_event(cli_env, account_id):
    error = callverify(cli_env, "webhook", "set", "999999", "--event", "password_call",
                       "--url", URL, expect=2)
    assert "unknown account" in error
    callverify(cli_env, "webhook", "set", account_id, "--event", "reverse_verify",
               "--url", URL, expect=2)
    callverify(cli_env, "webhook", "set", account_id, "--url", URL, expect=2)


def test_ring_window(cli_env, account_id):
    shown = json.loads(callverify(cli_env, "account", "ring-window", account_id, "45"))
    assert shown == {"account_id": account_id, "ring_seconds": 45.0}
    for bad in ("4", "121", "nan", "soon"):
        callverify(cli_env, "account", "ring-window", account_id, bad, expect=2)
    callverify(cli_env, "account", "ring-window", "999999", "30", expect=2)
    client = redis.Redis.from_url(cli_env["CALLVERIFY_REDIS_URL"], decode_responses=True)
    try:
        assert float(client.hget(f"cv:account:{account_id}", "ring_seconds")) == 45.0
    finally:
        client.close()
