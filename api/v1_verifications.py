"""POST /v1/verifications: a verification by call, on one of three channels
(engine/v1_status.py), answered 201 with the verification object and, this
once, its `code` (and for caller_id the `caller_number` that carries it).

Checks run in this order, as the reverse-verify seed's; the first that
fails decides (problem+json, api/v1_problems.py):

    429 rate_limited  the client address is over CALLVERIFY_RATE_PER_ADDRESS
                      (every request counts, malformed ones too)
    400 malformed     the body (api/v1_request.py) or the Idempotency-Key header
    401 unauthorized  no `Authorization: Bearer <token>`, or an unknown token
    429 rate_limited  the token's account is over CALLVERIFY_RATE_PER_KEY
    403 account_disabled
    403 caller_id_not_allowed  a caller_id other than the default that is not
                      on the account's list, or may never be shown (engine/caller_ids.py)
    422 destination_refused    region, number type, blocked prefix, or the
                      velocity alarm's block (api/destinations.py)
    403 do_not_call
    429 flood         this account called the number within CALLVERIFY_FLOOD_SECONDS,
                      or the number had CALLVERIFY_DAILY_CAP_PER_NUMBER calls today
    402 insufficient_balance / spend_limit
    503 busy          the engines cannot start the call within CALLVERIFY_MAX_QUEUE_SECONDS
    201               charged, listed, stored and queued

From the address limit on, a well-formed request is one Redis round trip
(the accept step: engine/verifications.py `accept_by_credential`). With an
Idempotency-Key (api/v1_idempotency.py) the account is found first, the key
claimed, then the accept step runs: 422 idempotency_key_reused and 409
idempotency_in_progress come after 403 account_disabled.
"""
from __future__ import annotations

import logging
import time

from aiohttp import web

from api import destinations, v1_idempotency, v1_reads
from api.appkeys import LIMITS, SETTINGS, STORE
from api.client_limits import retry_after
from api.password_call import call_price, caller_number, read_body
from api.password_call_request import bearer_token
from api.v1_auth import caller
from api.v1_problems import malformed, problem
from api.v1_request import Malformed, V1Request, idempotency_key, parse_body, pick_code
from engine import accept_step, log_output
from engine.caller_ids import caller_id_problem, needs_listing
from engine.client_limits import NO_BUCKETS, Buckets
from engine.keys import TOKEN_BUCKET_PREFIX, token_index
from engine.masking import mask_number
from engine.settings import Settings
from engine.store import Store
from engine.v1_status import CALLER_ID, CHECKED, ENDED, FLOW_OF, view
from engine.verification import Verification

log = logging.getLogger(__name__)

PATH = "/v1/verifications"
CALLER_ID_RULES = "caller_id_rules"  # our refusal name for the accept step

# The accept step's refusals: (problem slug, detail).
REFUSALS = {
    accept_step.UNKNOWN_KEY: ("unauthorized", "unknown token"),
    accept_step.DISABLED: ("account_disabled", "the account is disabled"),
    accept_step.CALLER_ID_NOT_LISTED: ("caller_id_not_allowed", "caller_id is not one of the "
                                       "account's caller IDs (callverify account caller-id add)"),
    destinations.REGION: ("destination_refused", "the number's region is not served"),
    destinations.NUMBER_TYPE: ("destination_refused", "the number's type is not called (premium "
                               "rate, shared cost, personal, UAN, voicemail)"),
    destinations.PREFIX: ("destination_refused", "the number starts with a blocked prefix"),
    accept_step.PREFIX_BLOCKED: ("destination_refused", "the number's range is blocked by the "
                                 "velocity alarm"),
    accept_step.DO_NOT_CALL: ("do_not_call", "the number is on the do-not-call list"),
    accept_step.FLOOD: ("flood", "this account called the number a short while ago"),
    accept_step.DAILY_CAP: ("flood", "the number has had its calls for today (UTC)"),
    accept_step.NO_CREDIT: ("insufficient_balance", "the balance is below the call's price"),
    accept_step.SPEND_LIMIT: ("spend_limit", "the call would go over the hourly spend limit"),
    accept_step.BUSY: ("busy", "the engines cannot start the call in time; retry later"),
    accept_step.RATE_LIMITED: ("rate_limited", "over the request rate; retry later"),
}


def new_record(request: V1Request, code: str, settings: Settings, now: float) -> Verification:
    """The verification the engine will call (the accept step adds its id,
    account, number, status and the account's webhook URL)."""
    channel = request.channel
    caller = caller_number(settings, code) if channel == CALLER_ID else ""
    return Verification(
        flow=FLOW_OF[channel], api="v1", channel=channel,
        # Always stored, "en" too: the account's default locale (`callverify
        # account locale`) is for requests that name none, the seed APIs'.
        locale=request.locale, created_at=now,
        phone_number=request.national_number, country_code=request.country_code,
        caller_id="" if channel == CALLER_ID else request.caller_id or settings.default_caller_id,
        callback_url=request.callback_url,
        expires_at=now + settings.check_window_seconds if channel in CHECKED else 0.0,
        price=(call_price(caller, settings) if caller else
               destinations.call_price(request.country_code, request.e164, settings)),
        money_scale=settings.money_scale, caller_number=caller,
        spoken_code=code if channel in CHECKED else "")


def early_refusal(request: V1Request, settings: Settings) -> str:
    """The pure checks' refusal ("" for none): the caller ID's rules, then
    the destination's; the accept step ranks it after the account's checks."""
    caller_id = request.caller_id or ""
    if needs_listing(caller_id, settings.default_caller_id) and caller_id_problem(caller_id):
        return CALLER_ID_RULES
    return destinations.refusal(request.country_code, request.e164, settings) or ""


def created(verification: Verification, code: str, settings: Settings,
            replayed: bool = False) -> web.Response:
    """201: the object, with the code (and the calling number) while it can still be used."""
    body = view(verification, time.time(), settings.max_checks)
    if body["status"] not in ENDED:
        body["code"] = code
        if verification.channel == CALLER_ID:
            body["caller_number"] = "+" + caller_number(settings, code)
    response = web.json_response(body, status=201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def refused(result: str, answer: accept_step.Acceptance, request: V1Request,
            settings: Settings) -> web.Response:
    slug, detail = REFUSALS[result]
    wait: int | str | None = None
    if result == CALLER_ID_RULES:
        detail = f"caller_id {caller_id_problem(request.caller_id or '')}"
    elif result == accept_step.RATE_LIMITED:
        wait = retry_after(answer.wait_ms)
    elif result == accept_step.FLOOD:
        wait = settings.flood_seconds
    elif result == accept_step.DAILY_CAP:
        wait = 86400 - int(time.time()) % 86400
    elif result == accept_step.BUSY:
        wait = answer.retry_after
    return problem(slug, detail, retry_after=wait)


class Creation:
    """One POST's way through the checks, and what the log line says of it."""

    def __init__(self, request: web.Request) -> None:
        self.store: Store = request.app[STORE]
        self.settings: Settings = request.app[SETTINGS]
        self.limits = request.app[LIMITS]
        self.client: str = self.limits.client(request)
        self.account_id, self.verification_id, self.channel = "-", "", "-"
        self.number, self.key_use = "-", ""

    async def answer(self, web_request: web.Request) -> web.Response:
        """Parse, then place the call (once, under an Idempotency-Key)."""
        parsed = parse_body(await read_body(web_request), self.settings.egress_allow)
        key = idempotency_key(web_request.headers.get("Idempotency-Key"))
        token = bearer_token(web_request.headers.get("Authorization"))
        if isinstance(parsed, V1Request):
            self.number, self.channel = mask_number(parsed.e164), parsed.channel
        if isinstance(parsed, Malformed) or isinstance(key, Malformed) or token is None:
            wait, _ = await self.limits.take(self.client)  # it still counts against the address
            bad = parsed if isinstance(parsed, Malformed) else key
            if wait:
                return rate_limited(wait)
            if isinstance(bad, Malformed):
                return malformed(bad.field, bad.message)
            return problem("unauthorized", "Authorization: Bearer <token> header required")
        if key is None:
            buckets = self.limits.buckets(self.client, TOKEN_BUCKET_PREFIX)
            return (await self.place(parsed, token_index(token), buckets))[0]
        return await self.place_once(parsed, token, key, web_request)

    async def place(self, request: V1Request, index_key: str,
                    buckets: Buckets) -> tuple[web.Response, str]:
        """Run the accept step; the answer and the code placed ("" if refused)."""
        settings, code = self.settings, pick_code(request)
        verification = new_record(request, code, settings, round(time.time(), 3))
        caller_id = request.caller_id or ""
        answer = await self.store.verifications.accept_by_credential(
            index_key, request.e164, verification, code=code, price=verification.price,
            flood_seconds=settings.flood_seconds, max_queue_seconds=settings.max_queue_seconds,
            refusal=early_refusal(request, settings),
            caller_id=caller_id if needs_listing(caller_id, settings.default_caller_id) else "",
            alarm_per_minute=settings.prefix_alarm_per_minute,
            daily_cap=settings.daily_cap_per_number, buckets=buckets, listed=True)
        self.account_id = answer.account_id or self.account_id
        if answer.result == accept_step.RATE_LIMITED:
            self.limits.refused(self.client, answer.wait_ms, by_address=not answer.account_id)
        if answer.result != accept_step.ACCEPTED:
            return refused(answer.result, answer, request, settings), ""
        self.verification_id = verification.id = answer.verification_id
        verification.account_id, verification.e164 = answer.account_id, request.e164
        verification.status = "queued"
        return created(verification, code, settings), code

    async def place_once(self, request: V1Request, token: str, key: str,
                         web_request: web.Request) -> web.Response:
        """`place` under an Idempotency-Key: claimed first, then kept or released."""
        who = await caller(web_request)
        if who.refusal is not None:
            return who.refusal
        self.account_id = account_id = who.account_id
        redis = self.store.redis
        while True:
            claim = await v1_idempotency.claim(redis, account_id, key, request.fingerprint)
            self.key_use = claim.state
            if claim.state == v1_idempotency.REUSED:
                return problem("idempotency_key_reused", "Idempotency-Key was used with "
                               "another request body in the last 24 hours")
            if claim.state == v1_idempotency.IN_PROGRESS:
                return problem("idempotency_in_progress", "a request with this "
                               "Idempotency-Key is still being answered; retry")
            if claim.state == v1_idempotency.NEW:
                break
            record = claim.record or {}
            found = await self.store.verifications.get(record.get("verification_id", ""))
            if found is not None and found.account_id == account_id:
                self.verification_id = found.id
                return created(found, record.get("code", ""), self.settings, replayed=True)
            await v1_idempotency.release(redis, account_id, key)  # its verification is gone
        try:
            response, code = await self.place(request, token_index(token), NO_BUCKETS)
        except BaseException:
            await v1_idempotency.release(redis, account_id, key)
            raise
        if code:
            await v1_idempotency.complete(
                redis, account_id, key, request.fingerprint, request.e164,
                verification_id=self.verification_id, code=code)
        else:
            await v1_idempotency.release(redis, account_id, key)
        return response


async def create_verification(request: web.Request) -> web.Response:
    """HTTP handler: the checks above, in order; 201 or problem+json."""
    creation = Creation(request)
    # An address refused lately is answered from memory, before any parsing.
    wait = creation.limits.waiting(creation.client)
    response = rate_limited(wait) if wait else await creation.answer(request)
    log_output.info(log, f"v1_create account={creation.account_id} client={creation.client} "
                         f"number={creation.number} channel={creation.channel} "
                         f"status={response.status} verification={creation.verification_id or '-'}"
                         + (f" idempotency={creation.key_use}" if creation.key_use else ""))
    return response


def rate_limited(wait_ms: int) -> web.Response:
    return problem("rate_limited", "over the request rate; retry later",
                   retry_after=retry_after(wait_ms))


def add_routes(app: web.Application, wrap=lambda handler: handler) -> None:
    """POST /v1/verifications and the reads (api/v1_reads.py), through `wrap`
    (the app's failure guard)."""
    app.router.add_post(PATH, wrap(create_verification))
    v1_reads.add_routes(app, PATH, wrap)
