"""The reads of the /v1 API: one verification, and the account's list.

    GET /v1/verifications/{id}   200 the verification object (engine/v1_status.py)
    GET /v1/verifications        200 {"data": [objects, newest first], "next_cursor": str|null}

Both check, in order: 429 (the address's or the token's rate) -> 401 -> 403
disabled (api/v1_auth.py); then the read's own: 404 not_found for an id
that is not one (12 hex digits), unknown, another account's or not a /v1
verification; 400 malformed naming the list's parameter (api/v1_list_query.py).
"""
from __future__ import annotations

import logging
import time

from aiohttp import web

from api.appkeys import SETTINGS, STORE
from api.query import query_pairs
from api.v1_auth import caller
from api.v1_list_query import VERIFICATION_ID, ListQuery, cursor, parse_query
from api.v1_problems import malformed, problem
from engine import log_output
from engine.v1_lists import page
from engine.v1_status import view

log = logging.getLogger(__name__)


async def get_verification(request: web.Request) -> web.Response:
    """HTTP handler: the verification object, or problem+json."""
    who = await caller(request)
    verification_id = request.match_info["verification_id"]
    response = who.refusal
    if response is None:
        found = (await request.app[STORE].verifications.get(verification_id)
                 if VERIFICATION_ID.fullmatch(verification_id) else None)
        if found is None or found.api != "v1" or found.account_id != who.account_id:
            response = problem("not_found", "no such verification for this account")
        else:
            response = web.json_response(view(found, time.time(),
                                              request.app[SETTINGS].max_checks))
    shown = verification_id if VERIFICATION_ID.fullmatch(verification_id) else "?"
    log_output.info(log, f"v1_get account={who.account_id} client={who.client} "
                         f"verification={shown} status={response.status}")
    return response


async def list_verifications(request: web.Request) -> web.Response:
    """HTTP handler: a page of the account's verifications, or problem+json."""
    who = await caller(request)
    response = who.refusal
    count = 0
    if response is None:
        query = parse_query(query_pairs(request))
        if isinstance(query, ListQuery):
            shown, after = await page(request.app[STORE].redis, who.account_id, e164=query.e164,
                                      since=query.since, after=query.after, limit=query.limit)
            now, max_checks = time.time(), request.app[SETTINGS].max_checks
            count = len(shown)
            response = web.json_response({
                "data": [view(verification, now, max_checks) for verification in shown],
                "next_cursor": cursor(after) if after else None})
        else:
            response = malformed(query.field, query.message)
    log_output.info(log, f"v1_list account={who.account_id} client={who.client} "
                         f"status={response.status} count={count}")
    return response


def add_routes(app: web.Application, path: str, wrap=lambda handler: handler) -> None:
    """GET `path` (the list) and `path`/{id}, through `wrap` (the failure guard)."""
    app.router.add_get(path, wrap(list_verifications), allow_head=False)
    app.router.add_get(path + "/{verification_id}", wrap(get_verification), allow_head=False)
