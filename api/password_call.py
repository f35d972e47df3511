"""The MCN password-call API: POST /api/protected/api/auth/passwordcall.

JSON in, JSON out. Checks run in this order; the first that fails decides:

    429  `rate limited`, with Retry-After (whole seconds until a token): the
         client address is over CALLVERIFY_RATE_PER_ADDRESS (every request
         counts, whatever it holds; api/client_limits.py says which address
         is the client's), or the token's account is over
         CALLVERIFY_RATE_PER_KEY
    401  Authorization is not `Bearer <token>` or the token is unknown
    403  the token's account is disabled
    400  the body is not a JSON object of at most 4 KiB with a possible
         international `phone_number`, a 4-digit or empty `verification_code`
         and a boolean `is_with_redirect`
    400  `country not supported` (region not in CALLVERIFY_REGIONS) /
         `number not supported` (a refused number type, a blocked prefix:
         api/destinations.py), or the number's destination prefix (less its
         last 4 digits) is blocked by the velocity alarm (blocked before, or
         now: a request that would go over prefix_alarm_per_minute accepted
         calls to it this minute)
    403  the number is on the do-not-call list
    429  this account called the number less than flood_seconds ago
         (another account's call does not count), or the number had
         CALLVERIFY_DAILY_CAP_PER_NUMBER accepted calls this UTC day (any
         account)
    402  the balance is below the price, or the charge would take the
         account over its hourly spend limit: no call, but the call record
         (q931_status 41) still goes to the account's webhook
    503  `busy`, with Retry-After: the engines cannot start the call within
         CALLVERIFY_MAX_QUEUE_SECONDS (engine/backpressure.py); no charge
    200  accepted: charged, flood-marked, stored and queued in one step

The calling number (CLI prefix + code) is the operator's own: the account's
caller-ID list does not apply to it.

The pure steps (`bearer_token` and `parse_body`, in api/password_call_request.py;
`dialing_refusal`, `pick_code`, `caller_number`, `call_price`) are separate from
the handler.
"""
from __future__ import annotations

import json
import logging
import secrets
from typing import cast

import phonenumbers
from aiohttp import web

from api import destinations
from api.appkeys import LIMITS, PROGRESS, SETTINGS, STORE
from api.client_limits import retry_after
from api.password_call_request import (
    MAX_BODY,
    PasswordCallRequest,
    Refusal,
    bearer_token,
    parse_body,
)
from api.progress import ProgressWatch
from engine import accept_step, log_output, records
from engine.flows import password_call as flow
from engine.keys import TOKEN_BUCKET_PREFIX, token_index
from engine.masking import mask_number
from engine.outcome import BILLING, CallOutcome
from engine.settings import Settings
from engine.store import Account, Store
from engine.verification import Verification

log = logging.getLogger(__name__)

PATH = "/api/protected/api/auth/passwordcall"
EVENT = "password_call"
# Stages after which the engine knows whether the call was forwarded.
REDIRECT_KNOWN = ("ringing", "answered", "ended")


# The accept step's refusals (engine/verifications.py) as answers; a billing
# refusal still gets a call record for the account's webhook.
ACCEPT_REFUSALS = {
    accept_step.PREFIX_BLOCKED: Refusal(400, "number not supported: its range is blocked by "
                                               "the velocity alarm"),
    accept_step.DO_NOT_CALL: Refusal(403, "number is on the do-not-call list"),
    accept_step.FLOOD: Refusal(429, "flood protection: wait before calling this number again"),
    accept_step.DAILY_CAP: Refusal(429, "daily cap: this number has had its calls for today (UTC)"),
}
RATE_LIMITED = Refusal(429, "rate limited")
BILLING_REFUSALS = {
    accept_step.NO_CREDIT: Refusal(402, "insufficient balance"),
    accept_step.SPEND_LIMIT: Refusal(402, "over the account's hourly spend limit"),
}


def dialing_refusal(request: PasswordCallRequest, settings: Settings) -> Refusal | None:
    """400 for a region not dialled, a refused number type or a blocked prefix, else None."""
    refused = destinations.refusal(request.country_code, request.e164, settings)
    if refused is None:
        return None
    return Refusal(400, "country not supported" if refused == destinations.REGION
                   else "number not supported")


def pick_code(verification_code: str | None) -> str:
    """The client's code, or a random 4-digit one (leading zeros kept)."""
    return verification_code or f"{secrets.randbelow(10000):04d}"


def caller_number(settings: Settings, code: str) -> str:
    """The number we call from: the CLI prefix, then the code."""
    return settings.cli_prefix + code


def call_price(caller: str, settings: Settings) -> int:
    """The initiation price (1/money_scale units) for the caller number's country."""
    try:
        country = str(phonenumbers.parse("+" + caller, None).country_code)
    except phonenumbers.NumberParseException:
        return settings.password_call_default_price
    return int(settings.password_call_prices.get(country, settings.password_call_default_price))


async def call_record(store: Store, account_id: str, request: PasswordCallRequest, code: str,
                      settings: Settings) -> Verification:
    """The verification the engine will call."""
    caller = caller_number(settings, code)
    webhook = await store.accounts.webhook(account_id, EVENT)
    ring_seconds = await store.accounts.ring_seconds(account_id) or settings.password_ring_seconds
    return Verification(
        flow=flow.NAME, phone_number=request.phone_number, caller_number=caller,
        spoken_code=code, is_with_redirect=request.is_with_redirect, ring_seconds=ring_seconds,
        price=call_price(caller, settings),
        # The webhook's `cost` is price / money_scale, at the scale charged with.
        money_scale=settings.money_scale,
        webhook_url=webhook["url"] if webhook else "",
        webhook_fields=json.dumps(webhook["fields"]) if webhook else "")


async def place_call(account: Account, request: PasswordCallRequest, store: Store,
                     settings: Settings, watch: ProgressWatch) -> tuple[dict | Refusal, str]:
    """Run the prefix-alarm, do-not-call, flood, balance, spend-limit and busy
    checks (one atomic step), then queue the call.

    Returns the success body (or a Refusal) and the verification id ("" if none).
    """
    refusal = dialing_refusal(request, settings)
    if refusal is not None:
        return refusal, ""
    code = pick_code(request.verification_code)
    verification = await call_record(store, account.account_id, request, code, settings)
    result, vid, _, busy_wait, _ = await store.verifications.accept(
        account.account_id, request.e164, verification, price=verification.price,
        flood_seconds=settings.flood_seconds, max_queue_seconds=settings.max_queue_seconds,
        alarm_per_minute=settings.prefix_alarm_per_minute,
        daily_cap=settings.daily_cap_per_number)
    if result == accept_step.BUSY:
        return Refusal(503, "busy", busy_wait), ""
    if result in ACCEPT_REFUSALS:
        return ACCEPT_REFUSALS[result], ""
    if result in BILLING_REFUSALS:
        vid = await store.verifications.record_refused(account.account_id, request.e164,
                                                       verification)
        refused = cast(Verification, await store.verifications.get(vid))  # stored just above
        await records.give_verdict(store, refused, CallOutcome(failure=BILLING, cause=41))
        return BILLING_REFUSALS[result], vid
    if result != accept_step.ACCEPTED:
        raise RuntimeError(f"unexpected accept result {result}")
    is_redirect = False
    if request.is_with_redirect:
        is_redirect = await redirect_evidence(store, watch, vid, settings.redirect_wait_seconds)
    return {"ok": True, "caller_number": verification.caller_number, "verification_code": code,
            "verification_uuid": f"{vid}_{account.account_id}", "is_redirect": is_redirect}, vid


async def redirect_evidence(store: Store, watch: ProgressWatch, vid: str, bound: float) -> bool:
    """Whether the call was forwarded, once the engine reports it ringing,
    answered or ended; False if `bound` seconds pass first."""
    seen = False

    async def known() -> bool:
        nonlocal seen
        verification = await store.verifications.get(vid)
        if verification is None:
            return False
        outcome = verification.outcome
        seen = verification.is_redirect or bool(outcome and outcome.is_redirect)
        return verification.progress in REDIRECT_KNOWN

    return await watch.wait_until(vid, known, bound) and seen


async def read_body(request: web.Request) -> bytes:
    """At most MAX_BODY + 1 bytes of the body: enough to tell it is too long."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return b" " * (MAX_BODY + 1)
    body = b""
    while len(body) <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return body


async def password_call(request: web.Request) -> web.Response:
    """HTTP handler: rate-limit, authenticate, validate, place the call; JSON answer."""
    store, settings, watch = request.app[STORE], request.app[SETTINGS], request.app[PROGRESS]
    answer: dict | Refusal
    vid, number, account_id = "", "?", "-"
    token = bearer_token(request.headers.get("Authorization"))
    # The buckets' script also finds the token's account (one round trip).
    client, wait, found = await request.app[LIMITS].admit(
        request, TOKEN_BUCKET_PREFIX, token_index(token) if token else "")
    account = await store.accounts.get(found) if found else None
    if wait:
        answer, account_id = RATE_LIMITED, found or "-"
    elif token is None:
        answer = Refusal(401, "Authorization: Bearer <token> header required")
    elif account is None:
        answer = Refusal(401, "unknown token")
    elif account.disabled:
        answer, account_id = Refusal(403, "account disabled"), account.account_id
    else:
        account_id = account.account_id
        parsed = parse_body(await read_body(request))
        if isinstance(parsed, Refusal):
            answer = parsed
        else:
            number = mask_number(parsed.e164)
            answer, vid = await place_call(account, parsed, store, settings, watch)
    if isinstance(answer, Refusal):
        log_output.info(log, f"password_call account={account_id} client={client} number={number} "
                             f"status={answer.status} error={answer.error!r} "
                             f"verification={vid or '-'}")
        headers = ({"WWW-Authenticate": "Bearer"} if answer.status == 401 else
                   {"Retry-After": str(answer.retry_after)} if answer.retry_after else None)
        if answer is RATE_LIMITED:
            headers = {"Retry-After": retry_after(wait)}
        body = {"ok": False, "error": answer.error}
        if vid:  # a refused call still has a record (its webhook says q931_status 41)
            body["verification_uuid"] = f"{vid}_{account_id}"
        return web.json_response(body, status=answer.status, headers=headers)
    log_output.info(log, f"password_call account={account_id} client={client} number={number} status=200 "
                         f"verification={vid} is_redirect={answer['is_redirect']}")
    return web.json_response(answer)


def add_routes(app: web.Application, wrap=lambda handler: handler) -> None:
    """Serve the seed's path (POST only; preflight is the CORS module's),
    through `wrap` (the app's failure guard and CORS answer headers)."""
    app.router.add_post(PATH, wrap(password_call))
