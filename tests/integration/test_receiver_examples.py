"""The receiver checks docs/security.md gives customers, in PHP and in Python,
run from the document against real signed deliveries: a real Redis and a real
Deliverer send to PHP's built-in server and to an aiohttp app. What the
Deliverer signs is accepted; the same request changed, replayed out of time or
signed with another secret is refused with 401 by the same code.

The Redis and the Deliverer are test_signed_deliveries.py's fixtures (the
Deliverer built with its DELIVERER_OPTIONS)."""
from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis
from yarl import URL

from engine import records
from engine.delivery import DUE, delivery_key
from engine.delivery_record import new_delivery
from engine.keys import verification_key
from engine.outcome import CallOutcome
from engine.store import Store
from engine.verification import Verification
from engine.webhook_secrets import new_secret
from engine.webhook_signing import signing_headers
from tests.integration.receiver_examples import Receiver, php_receiver, python_receiver
from tests.integration.test_signed_deliveries import (  # noqa: F401 (fixtures)
    deliverer,
    new_account,
    queue,
)


@pytest.fixture
async def account(redis) -> tuple[str, str]:
    """An account and its webhook secret, the one the receiver is given."""
    return await new_account(redis)


@pytest.fixture(params=["php", "python"])
async def receiver(request, account, tmp_path):
    serve = php_receiver if request.param == "php" else python_receiver
    async with serve(account[1], tmp_path) as site:
        yield site


async def all_delivered(redis: Redis) -> None:
    """Wait until the Deliverer has no delivery left: each was answered 2xx."""
    for _ in range(200):
        if not await redis.zcard(DUE):
            return
        await asyncio.sleep(0.05)
    pytest.fail("a delivery is still due: the receiver did not answer 2xx")


async def refused_with(redis: Redis, delivery_id: str) -> str:
    """The error the Deliverer stored after its first attempt at a delivery."""
    for _ in range(200):
        error = await redis.hget(delivery_key(delivery_id), "last_error")
        if error:
            return error.decode()
        await asyncio.sleep(0.05)
    pytest.fail(f"delivery {delivery_id} was not attempted")


async def send(receiver: Receiver, target: str, body: str, headers: dict[str, str]) -> int:
    """The status the receiver answers to a request with this target, body and headers."""
    url = URL(receiver.base + target, encoded=True)  # the target goes on the wire as it is
    async with aiohttp.ClientSession() as http:
        if body:
            headers = {**headers, "Content-Type": "application/json"}
            async with http.post(url, data=body.encode(), headers=headers) as resp:
                return resp.status
        async with http.get(url, headers=headers) as resp:
            return resp.status


async def answers_to_replays(receiver: Receiver, got: dict, secret: str,
                             changed: dict[str, str]) -> dict[str, int]:
    """What the receiver answers to the request it accepted sent again as it
    was, `changed` (its target or body), signed with the right secret but out
    of its 5 minutes or just within them, with another secret, unsigned, and
    with a signature header that is not one."""
    target, body, sent = got["target"], got["body"], got["headers"]

    def signed(with_secret: str, age: int) -> dict[str, str]:
        return signing_headers([with_secret], sent["webhook-id"], int(time.time()) - age,
                               body or target)

    return {
        "as sent": await send(receiver, target, body, sent),
        "changed": await send(receiver, changed.get("target", target),
                              changed.get("body", body), sent),
        "signed 4 min ago": await send(receiver, target, body, signed(secret, 240)),
        "signed 6 min ago": await send(receiver, target, body, signed(secret, 360)),
        "signed 6 min ahead": await send(receiver, target, body, signed(secret, -360)),
        "another secret": await send(receiver, target, body, signed(new_secret(), 0)),
        "unsigned": await send(receiver, target, body, {}),
        "malformed signature": await send(receiver, target, body,
                                          {**sent, "webhook-signature": "v1"}),
    }


# Only the request as signed, within 5 minutes of its timestamp, gets through.
REPLAYS = {"as sent": 200, "changed": 401, "signed 4 min ago": 200, "signed 6 min ago": 401,
           "signed 6 min ahead": 401, "another secret": 401, "unsigned": 401,
           "malformed signature": 401}


async def test_the_docs_receivers_accept_the_signed_callback_and_refuse_it_changed(
        redis, deliverer, account, receiver):
    account_id, secret = account
    verification = Verification(
        flow="reverse_verify", id="v1", account_id=account_id, status="calling",
        phone_number="2025550123", country_code="1", secret="s p/é+&=?",
        callback_url=receiver.callback_url + "?site=a%20b&x=é")
    await redis.hset(verification_key("v1"), mapping=verification.to_hash())
    outcome = CallOutcome(answered=True, matched=True, attempts=1, digits_count=4)
    assert await records.give_verdict(Store(redis), verification, outcome)

    [got] = await receiver.accepted(1)
    await all_delivered(redis)
    path, _, query = got["target"].partition("?")
    assert path == receiver.callback_path and got["body"] == "" and got["record"] is None
    assert "%" in query and "&match=1&" in query
    assert parse_qs(query)["secret"] == ["s p/é+&=?"] and parse_qs(query)["site"] == ["a b"]

    changed = {"target": got["target"].replace("&match=1&", "&match=0&")}
    assert await answers_to_replays(receiver, got, secret, changed) == REPLAYS
    assert len(receiver.read_accepted()) == 3  # the delivery and the two replays let through


async def test_the_docs_receivers_accept_the_signed_webhook_and_refuse_it_changed(
        redis, deliverer, account, receiver):
    account_id, secret = account
    start = time.time() - 20
    verification = Verification(
        flow="password_call", id="v2", account_id=account_id, status="calling",
        phone_number="+447911123456", caller_number="4412345", price=150, money_scale=10000,
        webhook_url=receiver.webhook_url,
        webhook_fields=json.dumps(["q931_status", "cost", "duration"]))
    await redis.hset(verification_key("v2"), mapping=verification.to_hash())
    outcome = CallOutcome(answered=True, cause=16, placed_at=start, answered_at=start + 5,
                          ended_at=start + 12)
    assert await records.give_verdict(Store(redis), verification, outcome)

    [got] = await receiver.accepted(1)
    await all_delivered(redis)
    assert urlsplit(got["target"]).path == receiver.webhook_path
    assert got["record"] == json.loads(got["body"]) == {
        "q931_status": 16, "cost": 0.015, "duration": 12}

    changed = {"body": got["body"].replace("16", "17")}
    assert changed["body"] != got["body"]
    assert await answers_to_replays(receiver, got, secret, changed) == REPLAYS
    assert len(receiver.read_accepted()) == 3


async def test_the_docs_receivers_refuse_deliveries_signed_for_another_account(
        redis, deliverer, receiver):
    other_account, _ = await new_account(redis)
    deliveries = [
        new_delivery("GET", receiver.callback_url, params={"match": "1"}, account_id=other_account),
        new_delivery("POST", receiver.webhook_url, payload={"q931_status": 16},
                     account_id=other_account)]
    for delivery in deliveries:
        await queue(redis, delivery)
    assert [await refused_with(redis, d["id"]) for d in deliveries] == ["HTTP 401", "HTTP 401"]
    assert receiver.read_accepted() == []


async def test_during_a_rotation_the_docs_receivers_still_accept_the_old_secret(
        redis, deliverer, account, receiver):
    account_id, old_secret = account  # the one the receiver has
    await Store(redis).webhook_secrets.rotate(account_id)
    for delivery in (
            new_delivery("GET", receiver.callback_url, params={"match": "1"}, account_id=account_id),
            new_delivery("POST", receiver.webhook_url, payload={"q931_status": 16},
                         account_id=account_id)):
        await queue(redis, delivery)

    got = await receiver.accepted(2)
    await all_delivered(redis)
    assert sorted(g["body"] for g in got) == ["", '{"q931_status": 16}']
    # The new secret's signature first: the old one matches second.
    assert all(len(g["headers"]["webhook-signature"].split(" ")) == 2 for g in got)
