"""POST /v1/verifications through real HTTP against a real Redis (no engine):
the record the engine will call, every error the route answers (problem+json,
in the documented order), and Idempotency-Key."""
from __future__ import annotations

import asyncio
import json

import pytest

from api.v1_request import parse_body
from engine.backpressure import BACKLOG_FLOOR
from engine.keys import flood_key, idempotency_key, v1_list_key
from engine.retention import purge_number
from tests.integration.api_harness import ServedApi, callverify, serve_api
from tests.integration.test_backpressure import backlog, engine_says

NUMBER = "+15551234567"
PROBLEM = "application/problem+json"
VIEW_KEYS = {"id", "phone", "channel", "locale", "status", "failure_reason", "caller_id",
             "callback_url", "created_at", "expires_at", "answered_at", "ended_at", "checks",
             "checks_left", "attempts", "answered", "is_redirect", "sip_status", "q850_cause",
             "post_dial_delay_ms", "ring_ms", "duration_s", "price", "refunded"}


class V1Client(ServedApi):
    DEFAULT_CREDITS = 100
    ACCOUNT_SECRET = "token"

    async def create(self, token: str | None, body: dict | bytes, *, key: str | None = None,
                     ) -> tuple[int, dict, dict]:
        """POST the body; (status, JSON answer, headers)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(self.base_url + "/v1/verifications", data=data,
                                  headers=headers) as resp:
            answer = await resp.json(content_type=None)
            if resp.status != 201:
                assert resp.content_type == PROBLEM
                assert answer["status"] == resp.status
                assert answer["type"].startswith("urn:callverify:problem:")
            return resp.status, answer, dict(resp.headers)

    async def read(self, token: str | None, path: str = "", **params) -> tuple[int, dict]:
        """GET /v1/verifications + `path`; (status, JSON answer)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.get(self.base_url + "/v1/verifications" + path, params=params,
                                 headers=headers) as resp:
            answer = await resp.json(content_type=None)
            if resp.status != 200:
                assert resp.content_type == PROBLEM and answer["status"] == resp.status
            return resp.status, answer


def slug(answer: dict) -> str:
    return answer["type"].removeprefix("urn:callverify:problem:")


def keypad(number: str = NUMBER, **extra) -> dict:
    return {"phone": number, "channel": "keypad", "code": "1234", **extra}


@pytest.fixture
async def serve(clean_redis):
    async with serve_api(clean_redis, V1Client) as start:
        yield start


@pytest.fixture
async def api(serve) -> V1Client:
    return await serve()


async def test_keypad_is_stored_listed_charged_and_queued(api):
    account_id, token = await api.account()
    status, answer, _ = await api.create(token, keypad(callback_url="https://site.example/cb",
                                                       locale="de"))
    assert status == 201
    assert set(answer) == VIEW_KEYS | {"code"}
    assert answer["code"] == "1234" and answer["status"] == "queued" and answer["phone"] == NUMBER
    assert answer["channel"] == "keypad" and answer["locale"] == "de"
    assert answer["caller_id"] == "0000000000" and answer["checks_left"] is None
    assert answer["callback_url"] == "https://site.example/cb" and answer["price"] == 0.0001
    [record] = await api.verifications()
    assert record["id"] == answer["id"] and record["account_id"] == account_id
    assert (record["api"], record["channel"], record["flow"]) == ("v1", "keypad", "reverse_verify")
    assert record["e164"] == "15551234567" and record["locale"] == "de"
    assert record["code_len"] == "4" and record["code_hmac"] and "1234" not in record.values()
    assert "expires_at" not in record
    assert await api.credits(account_id) == 99 and await api.queued() == 1
    assert await api.redis.zscore(v1_list_key(account_id), answer["id"]) == float(
        record["created_at"])
    assert await api.redis.sismember("cv:number:15551234567",
                                     v1_list_key(account_id, "15551234567"))


@pytest.mark.parametrize("channel,digits,flow", [("keypad", 6, "reverse_verify"),
                                                 ("voice", 6, "voice"),
                                                 ("caller_id", 4, "password_call")])
async def test_without_a_code_one_is_generated_and_answered_once(api, channel, digits, flow):
    account_id, token = await api.account()
    status, answer, _ = await api.create(token, {"phone": NUMBER, "channel": channel})
    assert status == 201
    code = answer["code"]
    assert len(code) == digits and code.isdigit()
    [record] = await api.verifications()
    assert record["flow"] == flow and record["code_hmac"]
    if channel == "keypad":
        assert "spoken_code" not in record and answer["expires_at"] is None
    else:
        assert record["spoken_code"] == code and answer["checks_left"] == 5
        assert float(record["expires_at"]) == pytest.approx(float(record["created_at"]) + 600)
    if channel == "caller_id":
        assert answer["caller_number"] == "+4212222" + code
        assert record["caller_number"] == "4212222" + code and answer["caller_id"] is None
        assert record["price"] == "83"  # the password call's price for its calling number
    status, read = await api.read(token, "/" + answer["id"])
    assert status == 200 and read["id"] == answer["id"] and set(read) == VIEW_KEYS


async def test_the_account_webhook_and_ring_window_are_taken_at_accept(api):
    account_id, token = await api.account()
    await api.store.accounts.set_webhook(account_id, "verification", "https://site.example/wh",
                                         [])
    await api.store.accounts.set_ring_seconds(account_id, 12)
    assert (await api.create(token, keypad()))[0] == 201
    assert (await api.create(token, {"phone": "+15551230009", "channel": "caller_id"}))[0] == 201
    records = {r["channel"]: r for r in await api.verifications()}
    assert records["keypad"]["webhook_url"] == records["caller_id"]["webhook_url"] == (
        "https://site.example/wh")
    # The account's ring window is the caller-ID call's, as for its password calls.
    assert records["caller_id"]["ring_seconds"] == "12" and "ring_seconds" not in records["keypad"]


MALFORMED = [
    (b"{", "body"), (b"[1]", "body"), (b" " * 4097, "body"),
    ({**keypad(), "secret": "x"}, "secret"),
    ({"channel": "keypad"}, "phone"), (keypad("15551234567"), "phone"),
    (keypad("+1555"), "phone"), (keypad(1), "phone"),
    ({"phone": NUMBER}, "channel"), ({"phone": NUMBER, "channel": "sms"}, "channel"),
    (keypad(code="123"), "code"), (keypad(code="12345678901"), "code"), (keypad(code=1234), "code"),
    ({"phone": NUMBER, "channel": "caller_id", "code": "12345"}, "code"),
    (keypad(locale="it"), "locale"), (keypad(callback_url="ftp://site.example/"), "callback_url"),
    (keypad(callback_url="http://10.1.2.3/cb"), "callback_url"),
    ({"phone": NUMBER, "channel": "caller_id", "caller_id": "15551230000"}, "caller_id"),
    (keypad(caller_id="12-34"), "caller_id"),
]


@pytest.mark.parametrize("body,field", MALFORMED)
async def test_malformed_names_the_field(api, body, field):
    _, token = await api.account()
    status, answer, _ = await api.create(token, body)
    assert (status, slug(answer)) == (400, "malformed")
    assert answer["errors"][0]["field"] == field and answer["detail"].startswith(field)
    assert await api.verifications() == [] and await api.queued() == 0


async def test_a_bad_idempotency_key_is_malformed(api):
    _, token = await api.account()
    status, answer, _ = await api.create(token, keypad(), key="two words")
    assert (status, answer["errors"][0]["field"]) == (400, "Idempotency-Key")


async def test_unauthorized(api):
    status, answer, headers = await api.create(None, keypad())
    assert (status, slug(answer), headers["WWW-Authenticate"]) == (401, "unauthorized", "Bearer")
    status, answer, _ = await api.create("not-a-token", keypad())
    assert (status, slug(answer)) == (401, "unauthorized")


async def test_each_refusal_and_its_problem(api):
    account_id, token = await api.account()
    await api.store.dnc.add("15551230001")
    await api.store.accounts.add_caller_id(account_id, "15551239999")
    cases = [
        (keypad("+15551230001"), 403, "do_not_call"),
        (keypad(caller_id="15551238888"), 403, "caller_id_not_allowed"),
        (keypad(caller_id="911"), 403, "caller_id_not_allowed"),
        (keypad("+18765551234"), 422, "destination_refused"),  # Jamaica: not served
        (keypad("+19005551234"), 422, "destination_refused"),  # premium rate
    ]
    for body, status, expected in cases:
        got, answer, _ = await api.create(token, body)
        assert (got, slug(answer)) == (status, expected), body
    assert await api.verifications() == [] and await api.credits(account_id) == 100
    assert (await api.create(token, keypad(caller_id="+15551239999")))[0] == 201


async def test_disabled_account(api):
    account_id, token = await api.account()
    await api.store.accounts.set_disabled(account_id, True)
    status, answer, _ = await api.create(token, keypad("+15551230001"))
    assert (status, slug(answer)) == (403, "account_disabled")


async def test_flood_and_daily_cap_answer_429_with_retry_after(serve):
    api = await serve(daily_cap_per_number=1)
    account_id, token = await api.account()
    assert (await api.create(token, keypad()))[0] == 201
    status, answer, headers = await api.create(token, keypad())
    assert (status, slug(answer), headers["Retry-After"]) == (429, "flood", "60")
    other_id, other = await api.account()
    status, answer, headers = await api.create(other, keypad())  # the day's one call was made
    assert (status, slug(answer)) == (429, "flood") and int(headers["Retry-After"]) <= 86400


async def test_rate_limits_answer_429_with_retry_after(serve):
    api = await serve(rate_per_key="1/1")
    _, token = await api.account()
    assert (await api.create(token, keypad()))[0] == 201
    status, answer, headers = await api.create(token, keypad("+15551230002"))
    assert (status, slug(answer), headers["Retry-After"]) == (429, "rate_limited", "1")
    by_address = await serve(rate_per_address="1/1")
    _, token = await by_address.account()
    assert (await by_address.create(token, b"{"))[0] == 400
    status, answer, _ = await by_address.create(token, keypad("+15551230003"))
    assert (status, slug(answer)) == (429, "rate_limited")


async def test_balance_and_spend_limit_answer_402(api):
    _, token = await api.account(credits=0)
    status, answer, _ = await api.create(token, keypad())
    assert (status, slug(answer)) == (402, "insufficient_balance")
    account_id, token = await api.account()
    await api.store.accounts.set_spend_limit(account_id, 1)
    assert (await api.create(token, keypad("+15551230004")))[0] == 201
    status, answer, _ = await api.create(token, keypad("+15551230005"))
    assert (status, slug(answer)) == (402, "spend_limit")
    assert await api.queued() == 1


async def test_busy_answers_503_with_retry_after_and_charges_nothing(serve):
    api = await serve(max_queue_seconds=10)
    account_id, token = await api.account()
    await engine_says(api.redis, rate=1.0, free=0)
    await backlog(api.redis, BACKLOG_FLOOR + 10)
    status, answer, headers = await api.create(token, keypad())
    assert (status, slug(answer), headers["Retry-After"]) == (503, "busy", "1")
    assert await api.credits(account_id) == 100 and await api.verifications() == []


async def test_the_first_failing_check_decides(api):
    account_id, token = await api.account(credits=0)
    await api.store.dnc.add("15551230001")
    dnc_and_broke = keypad("+15551230001")
    assert slug((await api.create("unknown", {"phone": "x"}))[1]) == "malformed"
    assert slug((await api.create("unknown", dnc_and_broke))[1]) == "unauthorized"
    assert slug((await api.create(token, {**dnc_and_broke, "caller_id": "911"}))[1]) == (
        "caller_id_not_allowed")
    assert slug((await api.create(token, dnc_and_broke))[1]) == "do_not_call"
    await api.store.accounts.set_disabled(account_id, True)
    assert slug((await api.create(token, dnc_and_broke))[1]) == "account_disabled"


async def test_an_idempotency_key_replays_the_same_verification(api):
    account_id, token = await api.account()
    body = {"phone": NUMBER, "channel": "voice", "locale": "fr"}
    status, first, _ = await api.create(token, body, key="order-17")
    assert status == 201
    # The same fields in another order and spacing are the same request.
    same = json.dumps({"locale": "fr", "channel": "voice", "phone": NUMBER}, indent=1).encode()
    status, again, headers = await api.create(token, same, key="order-17")
    assert status == 201 and headers["Idempotent-Replayed"] == "true"
    assert again["id"] == first["id"] and again["code"] == first["code"]
    assert len(await api.verifications()) == 1 and await api.queued() == 1
    assert await api.credits(account_id) == 99
    status, answer, _ = await api.create(token, {**body, "locale": "de"}, key="order-17")
    assert (status, slug(answer)) == (422, "idempotency_key_reused")
    # Another account's key of the same name is its own.
    _, other = await api.account()
    status, theirs, _ = await api.create(other, body, key="order-17")
    assert status == 201 and theirs["id"] != first["id"]


async def test_parallel_requests_with_one_key_place_one_call(api):
    _, token = await api.account()
    answers = await asyncio.gather(*(api.create(token, keypad(), key="k") for _ in range(5)))
    assert {status for status, _, _ in answers} == {201}
    assert len({answer["id"] for _, answer, _ in answers}) == 1
    assert await api.queued() == 1


async def test_a_refused_request_frees_its_key(api):
    account_id, token = await api.account(credits=0)
    assert (await api.create(token, keypad(), key="k"))[0] == 402
    await api.store.accounts.add_credits(account_id, 5)
    status, answer, headers = await api.create(token, keypad(), key="k")
    assert status == 201 and "Idempotent-Replayed" not in headers


async def test_a_key_still_in_progress_answers_409(api):
    account_id, token = await api.account()
    pending = {"state": "pending", "fingerprint": parse_body(json.dumps(keypad()).encode()
                                                             ).fingerprint}
    await api.redis.set(idempotency_key(account_id, "k"), json.dumps(pending), ex=30)
    status, answer, _ = await api.create(token, keypad(), key="k")
    assert (status, slug(answer)) == (409, "idempotency_in_progress")
    assert await api.queued() == 0


async def test_purging_the_number_forgets_the_key(api):
    account_id, token = await api.account()
    assert (await api.create(token, keypad(), key="k"))[0] == 201
    assert await api.redis.exists(idempotency_key(account_id, "k"))
    await purge_number(api.redis, "15551234567")
    assert not await api.redis.exists(idempotency_key(account_id, "k"))
    assert not await api.redis.exists(v1_list_key(account_id, "15551234567"))
    await api.redis.delete(flood_key(account_id, "15551234567"))
    status, answer, headers = await api.create(token, keypad(), key="k")
    assert status == 201 and "Idempotent-Replayed" not in headers


def test_the_verification_webhook_takes_no_fields(cli_env, account_id):
    args = ("webhook", "set", account_id, "--event", "verification",
            "--url", "https://site.example/wh")
    assert json.loads(callverify(cli_env, *args)) == {
        "account_id": account_id, "event": "verification", "url": "https://site.example/wh",
        "fields": []}
    assert "--fields does not apply" in callverify(cli_env, *args, "--fields", "status",
                                                   expect=2)
    assert json.loads(callverify(cli_env, "webhook", "show", account_id, "--event",
                                 "verification"))["url"] == "https://site.example/wh"


async def test_a_range_blocked_by_the_velocity_alarm_is_refused(serve):
    api = await serve(prefix_alarm_per_minute=1)
    _, token = await api.account()
    assert (await api.create(token, keypad("+15551230001")))[0] == 201
    status, answer, _ = await api.create(token, keypad("+15551230002"))  # the same range
    assert (status, slug(answer)) == (422, "destination_refused")
    assert "velocity alarm" in answer["detail"]
