"""The called.in reverse-verify API: GET /api/reverse_verify/ (slash optional).

The body is the return code alone, text/plain, HTTP 200 (HTTP 429 for a
client over its rate; 9: HTTP 503 with Retry-After). Checks run in this
order and the first that fails decides the answer:

0. 6  HTTP 429 with Retry-After (whole seconds until a token): the client
      address is over CALLVERIFY_RATE_PER_ADDRESS; every request counts,
      malformed ones and unknown keys included (api/client_limits.py says
      which address is the client's);
1. 4  malformed: a required parameter missing or empty, any parameter repeated,
      non-digits, code not 1-6 digits, country_code not 1-3 digits or not a
      real calling code, phone_number not a possible (full, not local-only)
      number of that country, callback_url refused by the egress guard
      (not http(s), credentials in it, a host that is no valid name, or an
      IP address in a range callbacks may not go to: engine/egress.py),
      secret over 30 characters, caller_id not 1-15 digits;
2. 1  unknown api_key;
   6  HTTP 429 with Retry-After: the key is over CALLVERIFY_RATE_PER_KEY;
3. 5  the key's account is disabled;
4. 4  a caller_id other than the default that is not on the account's list
      (`callverify account caller-id add`), or that may never be shown
      (emergency, short, premium-rate: engine/caller_ids.py);
5. 8  the number's region is not in CALLVERIFY_REGIONS (api/destinations.py);
6. 7  the number is of a refused type (premium rate, shared cost, personal
      number, UAN, voicemail) or starts with a blocked prefix; or its
      destination prefix (the number less its last 4 digits) is blocked by
      the velocity alarm: blocked before, or now, by a request that would go
      over prefix_alarm_per_minute accepted calls to it this clock minute;
7. 3  the number is on the do-not-call list;
8. 6  this account's call to the number was accepted less than
      flood_seconds ago (another account's does not count), or the number
      had CALLVERIFY_DAILY_CAP_PER_NUMBER accepted calls this UTC day (any
      account),
   2  the balance is below the call's price (api/destinations.py call_price),
      or the charge would take the account over its hourly spend limit
      (`callverify account spend-limit`),
   9  busy (our code, not the seed's: none of 0-8 means "try later"): the
      engines cannot start the call within CALLVERIFY_MAX_QUEUE_SECONDS
      (engine/backpressure.py); HTTP 503 with Retry-After, nothing charged,
      nothing stored,
   0  accepted: charged, flood-marked, counted, stored and queued in one
      atomic step.

From step 0's address limit to the end, a well-formed request is one Redis
round trip (the accept step); a malformed one takes its address token in a
round trip of its own; an address refused lately is answered from the
process's memory without Redis (api/client_limits.py).

Steps 1, 5 and 6's settings part are pure functions (`parse_request`,
`dialing_refusal`), as is step 4's rule part (`caller_id_refusal`).
"""
from __future__ import annotations

import enum
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from api import destinations
from api.appkeys import LIMITS, SETTINGS, STORE
from api.client_limits import retry_after
from api.national_numbers import e164_number
from api.query import query_pairs
from engine import accept_step, log_output
from engine.caller_ids import caller_id_problem, needs_listing
from engine.client_limits import NO_BUCKETS, Buckets
from engine.egress import url_refusal
from engine.flows import reverse_verify as flow
from engine.keys import API_KEY_BUCKET_PREFIX
from engine.masking import mask_number
from engine.settings import Settings
from engine.store import Store
from engine.verification import Verification

log = logging.getLogger(__name__)

REQUIRED = ("api_key", "phone_number", "country_code", "code", "callback_url")
OPTIONAL = ("secret", "caller_id")
PARAMETERS = frozenset(REQUIRED + OPTIONAL)
CODE = re.compile(r"[0-9]{1,6}")
COUNTRY_CODE = re.compile(r"[1-9][0-9]{0,2}")
CALLER_ID = re.compile(r"[0-9]{1,15}")
MAX_SECRET = 30


class ReturnCode(enum.IntEnum):
    ACCEPTED = 0
    INVALID_API_KEY = 1
    NO_CREDIT = 2
    DO_NOT_CALL = 3
    MALFORMED = 4
    KEY_DISABLED = 5
    FLOOD = 6
    AREA_NOT_SUPPORTED = 7
    COUNTRY_NOT_SUPPORTED = 8
    BUSY = 9  # ours: try again after Retry-After (HTTP 503)


@dataclass(frozen=True)
class ReverseVerifyRequest:
    api_key: str
    phone_number: str
    country_code: str
    code: str
    callback_url: str
    secret: str
    caller_id: str | None
    e164: str  # country code + national number, digits only


def parse_request(pairs: Iterable[tuple[str, str]],
                  egress_allow: tuple[str, ...] = ()) -> ReverseVerifyRequest | ReturnCode:
    """Validate the seed's GET parameters (the query's name, value pairs);
    ReturnCode.MALFORMED if they are not right. `egress_allow`: the settings'
    networks a callback may go to though not globally routable."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in PARAMETERS:
            if name in values:
                return ReturnCode.MALFORMED
            values[name] = value
    given = values.get
    api_key, phone_number = given("api_key", ""), given("phone_number", "")
    country_code, code = given("country_code", ""), given("code", "")
    callback_url, secret = given("callback_url", ""), given("secret", "")
    caller_id = given("caller_id") or None
    if not (api_key and phone_number and country_code and code and callback_url):
        return ReturnCode.MALFORMED
    if (not CODE.fullmatch(code)
            or not COUNTRY_CODE.fullmatch(country_code)
            or len(secret) > MAX_SECRET
            or (caller_id is not None and not CALLER_ID.fullmatch(caller_id))
            or not is_callback_url(callback_url, egress_allow)):
        return ReturnCode.MALFORMED
    e164 = e164_number(country_code, phone_number)
    if e164 is None:
        return ReturnCode.MALFORMED
    return ReverseVerifyRequest(
        api_key=api_key, phone_number=phone_number, country_code=country_code, code=code,
        callback_url=callback_url, secret=secret, caller_id=caller_id, e164=e164)


def is_callback_url(url: str, egress_allow: tuple[str, ...] = ()) -> bool:
    """True for a URL the egress guard lets a callback go to (cached there)."""
    return url_refusal(url, egress_allow) is None


REFUSALS = {destinations.REGION: ReturnCode.COUNTRY_NOT_SUPPORTED,
            destinations.NUMBER_TYPE: ReturnCode.AREA_NOT_SUPPORTED,
            destinations.PREFIX: ReturnCode.AREA_NOT_SUPPORTED}


def dialing_refusal(request: ReverseVerifyRequest, settings: Settings) -> ReturnCode | None:
    """8 for a region not dialled, 7 for a refused number type or a blocked prefix, else None."""
    refused = destinations.refusal(request.country_code, request.e164, settings)
    return None if refused is None else REFUSALS[refused]


def caller_id_refusal(request: ReverseVerifyRequest, settings: Settings) -> ReturnCode | None:
    """4 for a caller ID that may never be shown, listed or not; else None
    (the default caller ID is always allowed)."""
    caller_id = request.caller_id or ""
    if needs_listing(caller_id, settings.default_caller_id) and caller_id_problem(caller_id):
        return ReturnCode.MALFORMED
    return None


# The accept step's answers (engine/verifications.py), as the seed's return codes.
RETURN_CODES = {
    accept_step.ACCEPTED: ReturnCode.ACCEPTED,
    accept_step.UNKNOWN_KEY: ReturnCode.INVALID_API_KEY,
    accept_step.NO_CREDIT: ReturnCode.NO_CREDIT,
    accept_step.SPEND_LIMIT: ReturnCode.NO_CREDIT,
    accept_step.CALLER_ID_NOT_LISTED: ReturnCode.MALFORMED,
    accept_step.PREFIX_BLOCKED: ReturnCode.AREA_NOT_SUPPORTED,
    ReturnCode.MALFORMED.name: ReturnCode.MALFORMED,
    accept_step.DO_NOT_CALL: ReturnCode.DO_NOT_CALL,
    accept_step.DISABLED: ReturnCode.KEY_DISABLED,
    accept_step.FLOOD: ReturnCode.FLOOD,
    accept_step.BUSY: ReturnCode.BUSY,
    accept_step.DAILY_CAP: ReturnCode.FLOOD,
    accept_step.RATE_LIMITED: ReturnCode.FLOOD,  # answered HTTP 429
    ReturnCode.AREA_NOT_SUPPORTED.name: ReturnCode.AREA_NOT_SUPPORTED,
    ReturnCode.COUNTRY_NOT_SUPPORTED.name: ReturnCode.COUNTRY_NOT_SUPPORTED,
}


async def decide(request: ReverseVerifyRequest, store: Store, settings: Settings,
                 buckets: Buckets = NO_BUCKETS) -> tuple[ReturnCode, str, str, int, int]:
    """Run the rate, account, coverage, do-not-call and accept checks in the
    documented order.

    Returns the return code, the new verification's id when accepted (else
    ""), the key's account id ("" for an unknown key), when busy the seconds
    to wait before trying again, and when a bucket (`buckets`) refused the
    milliseconds until its next token (else 0).
    """
    verification = Verification(
        flow=flow.NAME, country_code=request.country_code, phone_number=request.phone_number,
        caller_id=request.caller_id or settings.default_caller_id,
        callback_url=request.callback_url, secret=request.secret)
    # The caller ID's rules and 8/7 are pure and decided here; the script ranks
    # them after 1/5 and the caller-ID list as documented.
    refusal = caller_id_refusal(request, settings) or dialing_refusal(request, settings)
    caller_id = request.caller_id or ""
    listed = caller_id if needs_listing(caller_id, settings.default_caller_id) else ""
    answer = await store.verifications.accept_by_api_key(
        request.api_key, request.e164, verification, code=request.code,
        price=destinations.call_price(request.country_code, request.e164, settings),
        flood_seconds=settings.flood_seconds, max_queue_seconds=settings.max_queue_seconds,
        refusal=refusal.name if refusal else "", caller_id=listed,
        alarm_per_minute=settings.prefix_alarm_per_minute,
        daily_cap=settings.daily_cap_per_number, buckets=buckets)
    return (RETURN_CODES[answer.result], answer.verification_id, answer.account_id,
            answer.retry_after, answer.wait_ms)


async def reverse_verify(request: web.Request) -> web.Response:
    """HTTP handler: the return code alone, text/plain, HTTP 200 (429 over a
    rate, 503 busy)."""
    limits = request.app[LIMITS]
    client = limits.client(request)
    verification_id = account_id = ""
    busy_wait = 0
    # An address refused lately is answered from memory, before any parsing.
    wait = limits.waiting(client)
    parsed = ReturnCode.FLOOD if wait else parse_request(query_pairs(request),
                                                         request.app[SETTINGS].egress_allow)
    if isinstance(parsed, ReturnCode):
        result = parsed
        if not wait:  # malformed: it still counts against the address
            wait, _ = await limits.take(client)
            result = ReturnCode.FLOOD if wait else parsed
        number = mask_number(request.query.get("phone_number"))
    else:
        result, verification_id, account_id, busy_wait, wait = await decide(
            parsed, request.app[STORE], request.app[SETTINGS],
            limits.buckets(client, API_KEY_BUCKET_PREFIX))
        if wait:
            limits.refused(client, wait, by_address=not account_id)
        number = mask_number(parsed.e164)
    limited = f" retry_after={retry_after(wait)}" if wait else ""
    log_output.info(log, f"reverse_verify account={account_id or '-'} client={client} "
                         f"number={number} result={int(result)}{limited} "
                         f"verification={verification_id or '-'}")
    if wait:
        return web.Response(status=429, text=str(int(result)), content_type="text/plain",
                            headers={"Retry-After": retry_after(wait)})
    if result == ReturnCode.BUSY:
        return web.Response(text=str(int(result)), content_type="text/plain", status=503,
                            headers={"Retry-After": str(busy_wait)})
    return web.Response(text=str(int(result)), content_type="text/plain")


def add_routes(app: web.Application, wrap=lambda handler: handler) -> None:
    """Serve the seed's URL with and without the trailing slash (no redirect),
    through `wrap` (the app's failure guard)."""
    handler = wrap(reverse_verify)
    for path in ("/api/reverse_verify/", "/api/reverse_verify"):
        # No HEAD: a HEAD must not place a call.
        app.router.add_get(path, handler, allow_head=False)
