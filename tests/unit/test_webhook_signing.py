"""The Standard Webhooks signature (engine/webhook_signing.py) against the
standard's own test vector and its reference verifier."""
from __future__ import annotations

import base64
import time

import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from engine.delivery_record import Delivery
from engine.webhook_secrets import new_secret
from engine.webhook_signing import DeliverySigner, request_target, sign, signing_headers

# https://github.com/standard-webhooks/standard-webhooks (libraries' shared test vector)
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_PAYLOAD = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_standards_test_vector():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD) == VECTOR_SIGNATURE


def test_the_vector_through_the_headers():
    headers = signing_headers([VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_PAYLOAD)
    assert headers == {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
                       "webhook-signature": VECTOR_SIGNATURE}


def test_each_secret_signs_and_each_verifies():
    new, old, stranger = new_secret(), new_secret(), new_secret()
    now = int(time.time())
    headers = signing_headers([new, old], "d1", now, "/cb?match=1")
    first, second = headers["webhook-signature"].split(" ")
    assert first.startswith("v1,") and second.startswith("v1,") and first != second
    for secret in (new, old):
        Webhook(secret).verify("/cb?match=1", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify("/cb?match=1", headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify("/cb?match=0", headers, json_parse=False)


def test_a_new_secret_is_whsec_and_32_random_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


@pytest.mark.parametrize(("url", "target"), [
    ("http://site.example/cb?phone_number=5550123&secret=a+b", "/cb?phone_number=5550123&secret=a+b"),
    ("http://site.example/cb?secret=%C3%A9%20x", "/cb?secret=%C3%A9%20x"),
    ("http://site.example?n=1#frag", "/?n=1"),  # no fragment on the wire; "/" for no path
    ("https://site.example:8443/a/b", "/a/b"),
])
def test_the_request_target_is_path_and_query_as_sent(url, target):
    assert request_target(url) == target


async def test_a_delivery_without_an_account_or_a_sendable_url_is_not_signed():
    redis = Redis(port=1)  # never connected: neither needs a secret
    signer = DeliverySigner(redis)
    stored_before = Delivery("d1", "GET", "http://site.example/cb", "", 0, 0.0)
    unsendable = Delivery("d2", "GET", "http://[::1/cb", "", 0, 0.0, account_id="100001")
    assert await signer.headers(stored_before) == {}
    assert await signer.headers(unsendable) == {}
    await redis.aclose()
