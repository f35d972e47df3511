"""POST /v1/verifications/{id}/check and /cancel: what the client does to a
verification after creating it (engine/v1_checks.py, engine/v1_cancel.py).

Order of the answers: 429 / 401 / 403 (api/v1_auth.py), 400 (a check's body),
404 (unknown, another account's, or not a /v1 verification, as GET), 409 (a
keypad verification checked, or one that ended), 200.
"""
from __future__ import annotations

import json
import re
import time

from aiohttp import web

from api.appkeys import SETTINGS, STORE
from api.password_call import read_body
from api.password_call_request import MAX_BODY
from api.v1_auth import caller
from api.v1_problems import malformed, problem
from engine import v1_cancel, v1_checks
from engine.v1_cancel import Cancels
from engine.v1_checks import Checks
from engine.v1_status import status_of, view
from engine.verification import Verification

CHECKS = web.AppKey("v1_checks", Checks)
CANCELS = web.AppKey("v1_cancels", Cancels)
CODE = re.compile(r"[0-9]{4,10}")


async def _verification(request: web.Request) -> Verification | web.Response:
    """The caller's /v1 verification named in the path, or the problem that refuses it."""
    who = await caller(request)
    if who.refusal is not None:
        return who.refusal
    return await _owned(request, who.account_id)


async def _owned(request: web.Request, account_id: str) -> Verification | web.Response:
    found = await request.app[STORE].verifications.get(request.match_info["id"])
    if found is None or found.api != "v1" or found.account_id != account_id:
        return problem("not_found", "no verification with this id")
    return found


def _code(body: bytes) -> str | web.Response:
    if len(body) > MAX_BODY:
        return malformed("body", f"over {MAX_BODY} bytes")
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # (RecursionError: nested too deep to read)
        return malformed("body", "must be a JSON object")
    if not isinstance(parsed, dict):
        return malformed("body", "must be a JSON object")
    code = parsed.get("code")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        return malformed("code", "must be a string of 4 to 10 digits")
    return code


def _conflict(verification: Verification, action: str) -> web.Response:
    status = status_of(verification, time.time())[0]
    return problem("conflict", f"the verification is {status}; it cannot take a {action}")


async def check(request: web.Request) -> web.Response:
    """Check the code the person was given: {"verified", "checks_left", "verification"}."""
    who = await caller(request)
    if who.refusal is not None:
        return who.refusal
    code = _code(await read_body(request))  # (at most MAX_BODY + 1 bytes)
    if isinstance(code, web.Response):
        return code
    found = await _owned(request, who.account_id)
    if isinstance(found, web.Response):
        return found
    checks = request.app[CHECKS]
    result, after = await checks.check_code(found, code)
    if result == v1_checks.NOT_CHECKED:
        return problem("conflict", "a keypad verification's code is keyed in on the call; "
                                   "it takes no checks")
    if result == v1_checks.GONE:
        return problem("not_found", "no verification with this id")
    if result == v1_checks.ENDED_ALREADY:
        return _conflict(after, "check")
    shown = view(after, time.time(), checks.max_checks)
    return web.json_response({"verified": result == v1_checks.MATCHED,
                              "checks_left": shown["checks_left"], "verification": shown})


async def cancel(request: web.Request) -> web.Response:
    """End the verification: a queued one refunded, a call up hung up; again: the same."""
    found = await _verification(request)
    if isinstance(found, web.Response):
        return found
    cancels = request.app[CANCELS]
    result, after = await cancels.cancel(found)
    if result == v1_cancel.GONE:
        return problem("not_found", "no verification with this id")
    if result == v1_cancel.ENDED_ALREADY:
        return _conflict(after, "cancel")
    return web.json_response(view(after, time.time(), cancels.max_checks))


def add_routes(app: web.Application, wrap=lambda handler: handler) -> None:
    """The check and cancel routes, through `wrap` (the app's failure guard);
    after the app has its store and settings."""
    store, max_checks = app[STORE], app[SETTINGS].max_checks
    app[CHECKS] = Checks(store, max_checks)
    app[CANCELS] = Cancels(store, max_checks)
    app.router.add_post("/v1/verifications/{id}/check", wrap(check))
    app.router.add_post("/v1/verifications/{id}/cancel", wrap(cancel))
