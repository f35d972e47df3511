"""The password-call JSON API through real HTTP against a real Redis (no engine).

Each test asserts what a client sees (status, JSON body, CORS headers) and
what the engine would see in Redis (verification hash, cv:calls, credits,
queued webhook deliveries).
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import aiohttp
import pytest

from api import progress
from engine.delivery import DUE, delivery_key
from engine.keys import CALLS_STREAM
from engine.webhook_fields import PASSWORD_CALL_FIELDS
from tests.conftest import free_port
from tests.integration.api_harness import ServedApi, serve_api
from tests.integration.conftest import record_figure

PATH = "/api/protected/api/auth/passwordcall"
SEED_BODY = {"phone_number": "421222202004", "verification_code": "1234", "is_with_redirect": True}
SLOVAK_PRICE = 83
ORIGIN = "https://app.example"
WEBHOOK = "http://crm.example/cdr"


class PasswordCallClient(ServedApi):
    DEFAULT_CREDITS = 1000
    ACCOUNT_SECRET = "token"

    async def post(self, token: str | None, body=SEED_BODY, *, headers: dict | None = None,
                   raw: bytes | None = None) -> tuple[int, dict, aiohttp.typedefs.LooseHeaders]:
        """POST the body (JSON unless raw bytes are given); return status, JSON, headers."""
        sent = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        data = raw if raw is not None else json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
        async with self.http.post(self.base_url + PATH, data=data, headers=sent) as resp:
            assert resp.content_type == "application/json"
            return resp.status, await resp.json(), resp.headers


@pytest.fixture
async def serve(clean_redis):
    """Start the real API (api_harness.serve_api) on a free port; returns a client factory."""
    async with serve_api(clean_redis, PasswordCallClient,
                         redirect_wait_seconds=0.5, cors_origins=(ORIGIN,)) as start:
        yield start


@pytest.fixture
async def api(serve) -> PasswordCallClient:
    return await serve()


async def assert_nothing_placed(api: PasswordCallClient, account_id: str, credits: int = 1000):
    assert await api.queued() == 0
    assert await api.verifications() == []
    assert await api.credits(account_id) == credits


# -- success ---------------------------------------------------------------

async def test_seed_example_places_one_call_charged_at_the_slovak_price(api):
    account_id, token = await api.account(credits=1000)
    started = time.monotonic()
    status, body, _ = await api.post(token)
    waited = time.monotonic() - started
    assert status == 200
    assert set(body) == {"ok", "caller_number", "verification_code", "verification_uuid",
                         "is_redirect"}
    assert body["ok"] is True
    assert body["verification_code"] == "1234"
    assert body["caller_number"] == "42122221234"
    assert re.fullmatch(rf"[0-9a-f]{{12}}_{account_id}", body["verification_uuid"])
    # No engine runs: the bounded wait for redirect evidence ends with what is known.
    assert body["is_redirect"] is False
    assert 0.5 <= waited < 2.0
    assert await api.credits(account_id) == 1000 - SLOVAK_PRICE
    [(_, job)] = await api.redis.xrange(CALLS_STREAM)
    vid = body["verification_uuid"].split("_")[0]
    assert job == {b"verification_id": vid.encode()}
    [verification] = await api.verifications()
    assert verification["id"] == vid
    assert verification["account_id"] == account_id
    assert verification["status"] == "queued"
    assert verification["flow"] == "password_call"
    assert verification["e164"] == "421222202004"
    assert verification["phone_number"] == "421222202004"
    assert verification["caller_number"] == "42122221234"
    assert verification["spoken_code"] == "1234"
    assert verification["is_with_redirect"] == "1"
    assert float(verification["ring_seconds"]) == 30.0
    assert verification["price"] == str(SLOVAK_PRICE)
    assert verification["money_scale"] == "10000"
    assert "webhook_url" not in verification and "webhook_fields" not in verification
    assert "code" not in verification and "code_hmac" not in verification


async def test_without_redirect_check_answers_at_once(serve):
    api = await serve(redirect_wait_seconds=30)
    _, token = await api.account()
    started = time.monotonic()
    status, body, _ = await api.post(token, {**SEED_BODY, "is_with_redirect": False})
    assert (status, body["ok"], body["is_redirect"]) == (200, True, False)
    assert time.monotonic() - started < 1.0
    [verification] = await api.verifications()
    assert verification.get("is_with_redirect", "0") == "0"


async def test_is_with_redirect_absent_means_false(api):
    _, token = await api.account()
    status, body, _ = await api.post(token, {"phone_number": "421222202004"})
    assert (status, body["is_redirect"]) == (200, False)
    [verification] = await api.verifications()
    assert verification.get("is_with_redirect", "0") == "0"


@pytest.mark.parametrize("stage, seen", [("ringing", True), ("answered", False), ("ended", True)])
async def test_redirect_check_answers_as_soon_as_the_engine_reports_progress(
        serve, monkeypatch, stage, seen):
    """The engine stores `progress` and `is_redirect` and publishes the id; the
    response is woken by that message: with the backstop read as long as the
    bound, only the message can answer before the bound."""
    monkeypatch.setattr(progress, "BACKSTOP_SECONDS", 60)
    api = await serve(redirect_wait_seconds=20)
    _, token = await api.account()
    reported = asyncio.get_running_loop().create_future()

    async def engine_reports() -> None:
        while not (found := await api.verifications()):
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # the call takes a moment to ring
        await api.store.verifications.report_progress(found[0]["id"], stage, seen, notify=True)
        reported.set_result(time.monotonic())

    reporter = asyncio.ensure_future(engine_reports())
    status, body, _ = await api.post(token)
    answered = time.monotonic()
    await reporter
    assert (status, body["is_redirect"]) == (200, seen)
    assert answered - reported.result() < 10
    record_figure("password_call_redirect_answer_after_report_ms",
                  (answered - reported.result()) * 1000)


async def test_redirect_check_reads_the_record_when_no_message_comes(serve):
    """A report whose message is lost (e.g. the subscription was reconnecting)
    is still read within the bound."""
    api = await serve(redirect_wait_seconds=20)
    _, token = await api.account()

    async def engine_reports() -> None:
        while not (found := await api.verifications()):
            await asyncio.sleep(0.02)
        await api.store.verifications.report_progress(found[0]["id"], "ringing", True, notify=False)

    reporter = asyncio.ensure_future(engine_reports())
    started = time.monotonic()
    status, body, _ = await api.post(token)
    await reporter
    assert (status, body["is_redirect"]) == (200, True)
    assert time.monotonic() - started < 5


async def test_redirect_check_says_false_when_the_bound_passes_first(serve):
    api = await serve(redirect_wait_seconds=1)
    _, token = await api.account()
    started = time.monotonic()
    status, body, _ = await api.post(token)
    assert (status, body["is_redirect"]) == (200, False)
    assert 1.0 <= time.monotonic() - started < 3


async def test_empty_code_gets_a_random_4_digit_code_that_ends_the_caller_number(api):
    _, token = await api.account()
    for variant in ({"verification_code": ""}, {"verification_code": None}, {}):
        body = {"phone_number": f"15551234{len(variant) + len(str(variant)):03d}",
                "is_with_redirect": False, **variant}
        status, answer, _ = await api.post(token, body)
        assert status == 200, answer
        code = answer["verification_code"]
        assert re.fullmatch(r"[0-9]{4}", code)
        assert answer["caller_number"] == "4212222" + code
    spoken = sorted(v["spoken_code"] for v in await api.verifications())
    assert len(spoken) == 3 and all(re.fullmatch(r"[0-9]{4}", c) for c in spoken)


async def test_price_and_ring_window_and_webhook_go_into_the_record(serve):
    api = await serve(cli_prefix="4420794", password_call_prices={"44": 120, "421": 83})
    account_id, token = await api.account(credits=500)
    await api.store.accounts.set_ring_seconds(account_id, 12)
    await api.store.accounts.set_webhook(account_id, "password_call", WEBHOOK, ["q931_status", "cost"])
    status, body, _ = await api.post(token, {**SEED_BODY, "is_with_redirect": False})
    assert (status, body["caller_number"]) == (200, "44207941234")
    assert await api.credits(account_id) == 380
    [verification] = await api.verifications()
    assert verification["price"] == "120"
    assert float(verification["ring_seconds"]) == 12.0
    assert verification["webhook_url"] == WEBHOOK
    assert json.loads(verification["webhook_fields"]) == ["q931_status", "cost"]


# -- authentication ----------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
    {"Authorization": "Bearer not-a-known-token"}])
async def test_401_missing_malformed_or_unknown_token(api, headers):
    account_id, _ = await api.account()
    status, body, answer_headers = await api.post(None, headers=headers)
    assert status == 401
    assert body["ok"] is False and body["error"]
    assert answer_headers["WWW-Authenticate"] == "Bearer"
    await assert_nothing_placed(api, account_id)


async def test_403_disabled_account(api):
    account_id, token = await api.account()
    await api.store.accounts.set_disabled(account_id, True)
    status, body, _ = await api.post(token)
    assert (status, body) == (403, {"ok": False, "error": "account disabled"})
    await assert_nothing_placed(api, account_id)


# -- malformed requests --------------------------------------------------------

@pytest.mark.parametrize("raw, field", [
    (b"", "JSON"), (b"{\"phone_number\": ", "JSON"), (b"phone_number=421222202004", "JSON"),
    (b"\xff\xfe", "JSON"), (b"[]", "object"), (b"\"421222202004\"", "object"),
    (b"{}", "phone_number"),
    (json.dumps({**SEED_BODY, "pad": "x" * 4096}).encode(), "body"),
])
async def test_400_malformed_body(api, raw, field):
    account_id, token = await api.account()
    status, body, _ = await api.post(token, raw=raw)
    assert status == 400
    assert body["ok"] is False and field in body["error"]
    await assert_nothing_placed(api, account_id)


async def test_400_body_over_4_kib_without_content_length(api):
    account_id, token = await api.account()

    async def chunks():
        yield json.dumps(SEED_BODY)[:-1].encode()
        for _ in range(10):
            yield b", \"pad\": \"" + b"x" * 1000 + b"\""
        yield b"}"

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with api.http.post(api.base_url + PATH, data=chunks(), headers=headers) as resp:
        assert resp.status == 400
        assert "body" in (await resp.json())["error"]
    await assert_nothing_placed(api, account_id)


@pytest.mark.parametrize("changes, field", [
    ({"phone_number": 421222202004}, "phone_number"),
    ({"phone_number": "+421222202004"}, "phone_number"),
    ({"phone_number": "4212222"}, "phone_number"),
    ({"phone_number": "4" * 16}, "phone_number"),
    ({"phone_number": "999123456789"}, "phone_number"),
    ({"phone_number": None}, "phone_number"),
    ({"verification_code": 1234}, "verification_code"),
    ({"verification_code": "12345"}, "verification_code"),
    ({"verification_code": "12a4"}, "verification_code"),
    ({"is_with_redirect": "true"}, "is_with_redirect"),
    ({"is_with_redirect": 1}, "is_with_redirect"),
    ({"is_with_redirect": None}, "is_with_redirect"),
])
async def test_400_wrong_field_is_named(api, changes, field):
    account_id, token = await api.account()
    status, body, _ = await api.post(token, {**SEED_BODY, **changes})
    assert status == 400
    assert body["ok"] is False and field in body["error"]
    await assert_nothing_placed(api, account_id)


# -- policy ----------------------------------------------------------------

async def test_400_country_not_supported(serve):
    api = await serve(regions=("US", "GB"))
    account_id, token = await api.account()
    status, body, _ = await api.post(token)
    assert (status, body) == (400, {"ok": False, "error": "country not supported"})
    await assert_nothing_placed(api, account_id)


async def test_400_country_not_supported_for_jamaica_by_default(api):
    account_id, token = await api.account()
    status, body, _ = await api.post(token, {**SEED_BODY, "phone_number": "18762345678"})
    assert (status, body) == (400, {"ok": False, "error": "country not supported"})
    await assert_nothing_placed(api, account_id)


@pytest.mark.parametrize("number", ["448431234567", "421900123456", "447012345678"])
async def test_400_premium_rate_and_personal_numbers(serve, number):
    api = await serve(blocked_prefixes=())  # refused by their type, not by a prefix
    account_id, token = await api.account()
    status, body, _ = await api.post(token, {**SEED_BODY, "phone_number": number})
    assert (status, body) == (400, {"ok": False, "error": "number not supported"})
    await assert_nothing_placed(api, account_id)


async def test_400_blocked_prefix(api):
    account_id, token = await api.account()
    status, body, _ = await api.post(token, {**SEED_BODY, "phone_number": "19005551234"})
    assert (status, body) == (400, {"ok": False, "error": "number not supported"})
    await assert_nothing_placed(api, account_id)


async def test_403_do_not_call(api):
    account_id, token = await api.account()
    await api.store.dnc.add("421222202004")
    status, body, _ = await api.post(token)
    assert status == 403
    assert body["ok"] is False and "do-not-call" in body["error"]
    await assert_nothing_placed(api, account_id)


async def test_429_flood_same_number_from_the_same_account(api):
    first_id, first = await api.account()
    second_id, second = await api.account()
    quick = {**SEED_BODY, "is_with_redirect": False}
    assert (await api.post(first, quick))[0] == 200
    status, body, _ = await api.post(first, quick)
    assert (status, body) == (429, {"ok": False, "error":
                                    "flood protection: wait before calling this number again"})
    # Another account's request is not locked out by the first one's.
    assert (await api.post(second, quick))[0] == 200
    assert await api.queued() == 2
    assert await api.credits(first_id) == 1000 - SLOVAK_PRICE
    assert await api.credits(second_id) == 1000 - SLOVAK_PRICE


async def test_402_insufficient_balance_queues_the_billing_call_record(api):
    account_id, token = await api.account(credits=SLOVAK_PRICE - 1)
    await api.store.accounts.set_webhook(account_id, "password_call", WEBHOOK, list(PASSWORD_CALL_FIELDS))
    status, body, _ = await api.post(token)
    [verification] = await api.verifications()
    assert (status, body) == (402, {"ok": False, "error": "insufficient balance",
                                    "verification_uuid": f"{verification['id']}_{account_id}"})
    assert await api.queued() == 0
    assert await api.credits(account_id) == SLOVAK_PRICE - 1
    assert verification["status"] == "done"
    [delivery_id] = await api.redis.zrange(DUE, 0, -1)
    delivery = {k.decode(): v.decode() for k, v in
                (await api.redis.hgetall(delivery_key(delivery_id.decode()))).items()}
    assert delivery["method"] == "POST"
    assert delivery["url"] == WEBHOOK
    record = json.loads(delivery["body"])
    assert list(record) == list(PASSWORD_CALL_FIELDS)
    assert record["q931_status"] == 41
    assert record["final_status"] == "CANCEL"
    assert record["verification_call_uuid"] == f"{verification['id']}_{account_id}"
    assert record["phone_number"] == "421222202004"
    assert record["caller_number"] == "42122221234"
    assert record["cost"] == 0


async def test_402_without_a_webhook_queues_nothing(api):
    account_id, token = await api.account(credits=0)
    status, _, _ = await api.post(token)
    assert status == 402
    assert await api.queued() == 0
    assert await api.redis.zcard(DUE) == 0


# -- CORS ----------------------------------------------------------------

PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, sec-fetch-mode"}


async def test_cors_preflight_from_a_listed_origin(api):
    async with api.http.options(api.base_url + PATH,
                                headers={"Origin": ORIGIN, **PREFLIGHT}) as resp:
        assert resp.status == 204
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert resp.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
        allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "accept", "sec-fetch-mode"} <= allowed
        assert int(resp.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.evil", None])
async def test_cors_preflight_from_another_origin_is_refused(api, origin):
    headers = {**PREFLIGHT, **({"Origin": origin} if origin else {})}
    async with api.http.options(api.base_url + PATH, headers=headers) as resp:
        assert resp.status == 403
        assert not any(h.lower().startswith("access-control-") for h in resp.headers)


async def test_cors_headers_on_actual_responses_for_listed_origins_only(api):
    _, token = await api.account()
    quick = {**SEED_BODY, "is_with_redirect": False}
    status, _, headers = await api.post(token, quick, headers={"Origin": ORIGIN})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in headers["Vary"]
    status, _, headers = await api.post("unknown", quick, headers={"Origin": ORIGIN})
    assert status == 401 and headers["Access-Control-Allow-Origin"] == ORIGIN
    status, _, headers = await api.post(token, quick, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_other_methods_answer_405_with_the_cors_headers(api, method):
    async with api.http.request(method, api.base_url + PATH, headers={"Origin": ORIGIN}) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "OPTIONS,POST"
        assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Origin" in resp.headers["Vary"]


# -- failures and logs -----------------------------------------------------

async def test_redis_down_is_a_json_503(serve):
    api = await serve(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status, body, _ = await api.post("some-token")
    assert status == 503
    assert body["ok"] is False


async def test_logs_mask_the_number_and_never_show_code_token_or_caller(api, caplog):
    _, token = await api.account()
    caplog.set_level(logging.INFO, logger="api")
    for body in (SEED_BODY, {**SEED_BODY, "verification_code": "5678"},
                 {**SEED_BODY, "phone_number": "19005550042"}):
        await api.post(token, {**body, "is_with_redirect": False})
    await api.post("unknown-token")
    lines = [r.getMessage() for r in caplog.records if r.name == "api.password_call"]
    assert len(lines) == 4
    text = "\n".join(lines)
    assert "***2004" in text and "***0042" in text
    assert "status=200" in text and "status=429" in text and "status=401" in text
    for secret in ("1234", "5678", token, "unknown-token", "421222202004", "42122221234"):
        assert secret not in text
