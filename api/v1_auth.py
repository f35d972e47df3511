"""Who calls a /v1 route: the client's address and the account of its bearer
token, with both token buckets taken in one round trip.

For the routes on an existing verification (read, check, cancel, list) the
checks run: 429 (the address's or the token's rate) -> 401 -> 403 disabled.
Creating a verification runs its own order (api/v1_verifications.py), as
the reverse-verify seed does.
"""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.appkeys import LIMITS, STORE
from api.client_limits import retry_after
from api.password_call_request import bearer_token
from api.v1_problems import problem
from engine.keys import TOKEN_BUCKET_PREFIX, token_index
from engine.store import Account


@dataclass(frozen=True)
class Caller:
    client: str  # the client's address (api/client_limits.py)
    account: Account | None  # None: refused, and `refusal` says why
    refusal: web.Response | None = None

    @property
    def account_id(self) -> str:
        return self.account.account_id if self.account else "-"


async def caller(request: web.Request) -> Caller:
    """The request's client and account, or the problem that refuses it."""
    token = bearer_token(request.headers.get("Authorization"))
    client, wait, found = await request.app[LIMITS].admit(
        request, TOKEN_BUCKET_PREFIX, token_index(token) if token else "")
    if wait:
        return Caller(client, None, problem("rate_limited", "over the request rate; retry later",
                                            retry_after=retry_after(wait)))
    account = await request.app[STORE].accounts.get(found) if found else None
    if token is None:
        return Caller(client, None, problem("unauthorized",
                                            "Authorization: Bearer <token> header required"))
    if account is None:
        return Caller(client, None, problem("unauthorized", "unknown token"))
    if account.disabled:
        return Caller(client, None, problem("account_disabled", "the account is disabled"))
    return Caller(client, account)
