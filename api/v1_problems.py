"""The /v1 API's errors: RFC 9457 problem details (application/problem+json),
one stable `type` per kind of error (urn:callverify:problem:<slug>).

The OpenAPI document (served at /openapi.json) lists each slug with its status.
"""
from __future__ import annotations

import json

from aiohttp import web

CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:callverify:problem:"

# slug -> (HTTP status, title)
PROBLEMS: dict[str, tuple[int, str]] = {
    "malformed": (400, "The request is not well-formed"),
    "unauthorized": (401, "Authorization: Bearer <token> with a known token is required"),
    "account_disabled": (403, "The account is disabled"),
    "do_not_call": (403, "The number is on the do-not-call list"),
    "caller_id_not_allowed": (403, "The caller ID is not allowed for this account"),
    "destination_refused": (422, "The number may not be called"),
    "idempotency_key_reused": (422, "The Idempotency-Key was used with another request"),
    "rate_limited": (429, "Too many requests"),
    "flood": (429, "Too many calls to this number"),
    "insufficient_balance": (402, "The balance is below the call's price"),
    "spend_limit": (402, "The call would go over the account's hourly spend limit"),
    "not_found": (404, "No such verification"),
    "conflict": (409, "The verification cannot take this action now"),
    "idempotency_in_progress": (409, "A request with this Idempotency-Key is still in progress"),
    "request_timeout": (408, "The request body did not arrive in time"),
    "busy": (503, "Busy: try again after Retry-After"),
    "unavailable": (503, "Service unavailable"),
}


def problem_body(slug: str, detail: str, errors: list[dict] | None = None) -> dict:
    status, title = PROBLEMS[slug]
    body: dict = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def problem(slug: str, detail: str, *, errors: list[dict] | None = None,
            retry_after: int | str | None = None) -> web.Response:
    """The problem response for `slug` (its status from PROBLEMS); `errors`:
    [{"field", "message"}] for a malformed request; `retry_after` in seconds."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if slug == "unauthorized":
        headers["WWW-Authenticate"] = "Bearer"
    return web.Response(status=PROBLEMS[slug][0], text=json.dumps(problem_body(slug, detail, errors)),
                        content_type=CONTENT_TYPE, headers=headers)


def malformed(field: str, message: str) -> web.Response:
    """400 naming the one field that is wrong."""
    return problem("malformed", f"{field}: {message}", errors=[{"field": field,
                                                                "message": message}])
