"""Signed callbacks and webhooks (Standard Webhooks) over a real Redis, a real
Deliverer, a real HTTP listener and the real `callverify` console script;
each signature is checked with the standard's own `standardwebhooks` verifier."""
from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from aiohttp import web
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine import records
from engine.delivery import DUE, WAKE, Deliverer, delivery_key
from engine.delivery_record import new_delivery
from engine.keys import verification_key, webhook_secret_key
from engine.outcome import CallOutcome
from engine.store import Store
from engine.verification import Verification
from tests.integration.api_harness import callverify
from tests.integration.conftest import LOCAL, CallbackSink

# The deliverer as the service builds it, sending to a listener on this host
# (which the egress guard lets in); a retry comes seconds later (a delivery due
# within a second is sent early).
DELIVERER_OPTIONS: dict = {"timeout": 2, "backoff_base": 3, "egress_allow": LOCAL}
SECRET_FORM = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")


class SigningSink(CallbackSink):
    """The customer's site, keeping what a receiver verifies: the request
    target as received, the headers and the body."""

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        await self.requests.put({
            "method": request.method, "query": dict(request.query), "body": body.decode(),
            "path_qs": request.path_qs, "raw_path": request.raw_path,
            "headers": dict(request.headers), "status": status})
        return web.Response(status=status, text="ok")


@pytest.fixture
async def sink():
    receiver = SigningSink()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def deliverer(redis):
    worker = Deliverer(redis, **DELIVERER_OPTIONS)
    task = asyncio.get_running_loop().create_task(worker.run())
    while not worker.taking:
        await asyncio.sleep(0.01)
    yield worker
    worker.stop()
    await asyncio.wait_for(task, 10)


async def new_account(redis: Redis) -> tuple[str, str]:
    """An account, as `account create` makes it, and its webhook secret."""
    store = Store(redis)
    account_id = (await store.accounts.create("acme", 10)).account_id
    return account_id, await store.webhook_secrets.current(account_id)


async def queue(redis: Redis, delivery: dict) -> None:
    """What the verdict script does for each delivery of a finished verification."""
    await redis.hset(delivery_key(delivery["id"]), mapping=delivery["fields"])
    await redis.zadd(DUE, {delivery["id"]: delivery["due"]})
    await redis.rpush(WAKE, delivery["id"])


async def callback_to(redis: Redis, sink: SigningSink, account_id: str) -> dict:
    """A GET callback of the account queued and received."""
    await queue(redis, new_delivery("GET", sink.url, params={"match": "1"},
                                    account_id=account_id))
    return await sink.next(timeout=10)


def verifies(secret: str, received: dict) -> bool:
    """Whether the standard's verifier accepts the request with `secret`; a
    request without a body is checked over its request target."""
    data = received["body"] or received["path_qs"]
    try:
        Webhook(secret).verify(data, received["headers"], json_parse=False)
    except WebhookVerificationError:
        return False
    return True


@pytest.mark.parametrize("handed_over", [False, True], ids=["queued", "handed-over"])
async def test_the_reverse_verify_callback_signs_its_request_target(
        redis, deliverer, sink, handed_over):
    account_id, secret = await new_account(redis)
    verification = Verification(
        flow="reverse_verify", id="v1", account_id=account_id, status="calling",
        phone_number="2025550123", country_code="1", secret="s p/é+&=?",
        callback_url=sink.url + "?site=a%20b&x=é")
    await redis.hset(verification_key("v1"), mapping=verification.to_hash())
    outcome = CallOutcome(answered=True, matched=True, attempts=1, digits_count=4)
    assert await records.give_verdict(Store(redis), verification, outcome,
                                      courier=deliverer if handed_over else None)
    received = await sink.next(timeout=10)
    assert received["method"] == "GET" and received["body"] == ""
    assert received["query"]["secret"] == "s p/é+&=?"  # the seed's own secret, as before
    assert "%" in received["path_qs"] and received["path_qs"] == received["raw_path"]
    headers = received["headers"]
    assert re.fullmatch(r"[0-9a-f]{16}", headers["webhook-id"])
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert verifies(secret, received)
    assert not verifies(secret, {**received, "path_qs": received["path_qs"] + "&match=0"})
    assert not verifies((await new_account(redis))[1], received)  # another account's secret


async def test_the_password_call_webhook_signs_its_body_as_sent(redis, deliverer, sink):
    account_id, secret = await new_account(redis)
    start = time.time() - 20
    verification = Verification(
        flow="password_call", id="v2", account_id=account_id, status="calling",
        phone_number="+447911123456", caller_number="4412345", price=150, money_scale=10000,
        webhook_url=sink.url, webhook_fields=json.dumps(["q931_status", "cost", "duration"]))
    await redis.hset(verification_key("v2"), mapping=verification.to_hash())
    outcome = CallOutcome(answered=True, cause=16, placed_at=start, answered_at=start + 5,
                          ended_at=start + 12)
    assert await records.give_verdict(Store(redis), verification, outcome)
    received = await sink.next(timeout=10)
    assert received["method"] == "POST"
    assert Webhook(secret).verify(received["body"], received["headers"]) == {
        "q931_status": 16, "cost": 0.015, "duration": 12}
    assert not verifies(secret, {**received, "body": received["body"].replace("16", "17")})


async def test_a_retry_keeps_its_webhook_id_and_signs_a_new_timestamp(redis, deliverer, sink):
    account_id, secret = await new_account(redis)
    sink.statuses = [500]
    await queue(redis, new_delivery("POST", sink.url, payload={"q931_status": 16},
                                    account_id=account_id))
    first, retry = await sink.next(timeout=10), await sink.next(timeout=10)
    assert first["status"] == 500 and retry["status"] == 200
    assert first["headers"]["webhook-id"] == retry["headers"]["webhook-id"]
    assert int(retry["headers"]["webhook-timestamp"]) > int(first["headers"]["webhook-timestamp"])
    assert verifies(secret, first) and verifies(secret, retry)


async def test_after_a_rotation_both_secrets_sign_until_the_old_one_expires(
        redis, deliverer, sink, cli_env, caplog):
    caplog.set_level("DEBUG")
    account_id, old = await new_account(redis)
    new = callverify(cli_env, "account", "webhook-secret", account_id, "--rotate").strip()
    assert SECRET_FORM.fullmatch(new) and new != old

    both = await callback_to(redis, sink, account_id)
    assert len(both["headers"]["webhook-signature"].split(" ")) == 2
    assert verifies(new, both) and verifies(old, both)

    key = webhook_secret_key(account_id)
    valid_for = float(await redis.hget(key, "previous_until")) - time.time()
    assert 24 * 3600 - 60 < valid_for <= 24 * 3600
    await redis.hset(key, "previous_until", f"{time.time() - 1:.3f}")  # 24 h later
    only_new = await callback_to(redis, sink, account_id)
    assert len(only_new["headers"]["webhook-signature"].split(" ")) == 1
    assert verifies(new, only_new) and not verifies(old, only_new)
    assert old not in caplog.text and new not in caplog.text


async def test_an_account_from_before_secrets_gets_one_at_its_first_delivery(
        redis, deliverer, sink, cli_env):
    account_id, _ = await new_account(redis)
    await redis.delete(webhook_secret_key(account_id))  # as accounts made before this were
    received = await callback_to(redis, sink, account_id)
    secret = callverify(cli_env, "account", "webhook-secret", account_id).strip()
    assert SECRET_FORM.fullmatch(secret)
    assert verifies(secret, received)


async def test_a_delivery_stored_without_its_account_is_sent_unsigned(redis, deliverer, sink):
    delivery = new_delivery("GET", sink.url, params={"n": "1"})
    del delivery["fields"]["account_id"]  # as deliveries stored before this were
    await queue(redis, delivery)
    received = await sink.next(timeout=10)
    assert received["query"] == {"n": "1"}
    assert not any(name.lower().startswith("webhook-") for name in received["headers"])


def test_the_cli_prints_and_rotates_the_secret(cli_env, clean_redis):
    created = json.loads(callverify(cli_env, "account", "create", "--name", "acme"))
    account_id = created["account_id"]
    secret = callverify(cli_env, "account", "webhook-secret", account_id).strip()
    assert SECRET_FORM.fullmatch(secret)
    assert secret not in json.dumps(created)  # not shown with the account's other secrets
    assert callverify(cli_env, "account", "webhook-secret", account_id).strip() == secret
    rotated = callverify(cli_env, "account", "webhook-secret", account_id, "--rotate").strip()
    assert SECRET_FORM.fullmatch(rotated) and rotated != secret
    assert callverify(cli_env, "account", "webhook-secret", account_id).strip() == rotated
    for args in (("999",), ("999", "--rotate")):
        assert "unknown account '999'" in callverify(
            cli_env, "account", "webhook-secret", *args, expect=2)
