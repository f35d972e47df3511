"""The /v1 API's operations: create, list, get, check, cancel (routes and
answers as in the issue-20 contract; the handlers are api/v1_*.py)."""
from __future__ import annotations

from api.openapi.parts import CONNECTION_CAP, Json, json_body, problem, ref, retry_after

TAG = "v1"
ID = {"name": "id", "in": "path", "required": True,
      "description": "The verification's id (12 hex digits); any other is 404.",
      "schema": {"type": "string", "pattern": "^[0-9a-f]{12}$"}}


def errors(*statuses: str) -> Json:
    """The problem answers of one operation, by status."""
    every = {
        "400": problem("Malformed: the body or a parameter; `errors` names the fields.",
                       "malformed"),
        "401": problem("No `Authorization: Bearer <token>`, or an unknown token.",
                       "unauthorized", headers={"WWW-Authenticate": {
                           "required": False, "schema": {"type": "string"}}}),
        "402": problem("The balance is below the call's price, or the charge would pass the "
                       "account's hourly spend limit. Nothing is called.",
                       "insufficient_balance", "spend_limit"),
        "403": problem("The account is disabled; on create also: the number is on the "
                       "do-not-call list, or the caller ID is not allowed for the account.",
                       "account_disabled", "do_not_call", "caller_id_not_allowed"),
        "404": problem("No such verification, or another account's.", "not_found"),
        "408": problem("The request's body did not arrive within CALLVERIFY_READ_TIMEOUT; "
                       "the connection is closed after this answer.", "request_timeout"),
        "409": problem("The verification cannot take this now (a check on keypad, or once "
                       "verified, failed, expired or canceled; a cancel once it ended), or a "
                       "request with the same Idempotency-Key is still being answered.",
                       "conflict", "idempotency_in_progress"),
        "422": problem("The destination is refused (region, number type, blocked prefix), "
                       "or the Idempotency-Key was used with another body.",
                       "destination_refused", "idempotency_key_reused"),
        "429": problem("Over the client address's or the token's request rate; on create "
                       "also flood (this account called the number lately) or the number's "
                       "daily cap.", "rate_limited", "flood", headers=retry_after()),
        "503": problem("Busy (the engines cannot start the call within "
                       "CALLVERIFY_MAX_QUEUE_SECONDS: nothing charged, Retry-After says when "
                       "to try again), or unavailable (storage not reachable).",
                       "busy", "unavailable",
                       headers=retry_after(required=False, why="Set when busy."),
                       also_text=CONNECTION_CAP + "."),
    }
    return {status: every[status] for status in statuses}


def create() -> Json:
    return {
        "tags": [TAG], "operationId": "createVerification",
        "summary": "Start a verification: place the call",
        "description": (
            "Checked in this order, the first failing check answering: 429 address rate, "
            "400 body, 401 token, 429 token rate, 403 disabled, 403 caller ID not allowed, "
            "422 region / number type / blocked prefix, 403 do-not-call, 429 flood and daily "
            "cap, 402 balance and spend limit, 503 busy, 201. With an `Idempotency-Key`, the "
            "same key and body within 24 h answers the same verification and places no "
            "second call; the same key with another body is 422."),
        "security": [{"bearerAuth": []}],
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "description": "Your key for this request (e.g. a UUID): 1-255 "
                                       "printable ASCII characters, no spaces.",
                        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"}}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": ref("VerificationCreate")}}},
        "responses": {
            "201": json_body("Accepted and charged; the call follows. `code` (and "
                             "`caller_number` for caller_id) appear in this answer and its "
                             "replays only.", ref("VerificationCreated"),
                             {"Idempotent-Replayed": {
                                 "description": "`true` on a replay: the answer to an earlier "
                                                "request with this Idempotency-Key and body; "
                                                "no second call.",
                                 "schema": {"type": "string", "enum": ["true"]}}}),
            **errors("400", "401", "402", "403", "408", "409", "422", "429", "503")},
    }


def list_verifications() -> Json:
    def query(name: str, description: str, schema: Json) -> Json:
        return {"name": name, "in": "query", "required": False, "description": description,
                "schema": schema}
    return {
        "tags": [TAG], "operationId": "listVerifications",
        "summary": "The account's verifications, newest first (for support staff)",
        "security": [{"bearerAuth": []}],
        "parameters": [
            query("phone", "Only this number (+E.164).", {"type": "string"}),
            query("since", "Only those created at or after this time: ISO 8601 or Unix "
                  "seconds.", {"type": "string"}),
            query("limit", "At most this many (1-100).",
                  {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
            query("cursor", "The previous page's `next_cursor`.", {"type": "string"}),
        ],
        "responses": {"200": json_body("One page.", ref("VerificationList")),
                      **errors("400", "401", "403", "408", "429", "503")},
    }


def get() -> Json:
    return {
        "tags": [TAG], "operationId": "getVerification",
        "summary": "A verification's status and its call's diagnostics",
        "description": "Never 404 while the record is retained (CALLVERIFY_RETENTION_DAYS).",
        "security": [{"bearerAuth": []}],
        "parameters": [ID],
        "responses": {"200": json_body("The verification.", ref("Verification")),
                      **errors("401", "403", "404", "408", "429", "503")},
    }


def check() -> Json:
    return {
        "tags": [TAG], "operationId": "checkVerification",
        "summary": "Check the code the person typed (voice, caller_id)",
        "description": ("For voice: the code we said; for caller_id: the last digits of the "
                        "number that called. At most CALLVERIFY_MAX_CHECKS checks (5) within "
                        "CALLVERIFY_CHECK_WINDOW_SECONDS (600) of the creation; the last "
                        "wrong one makes it failed (wrong_code), a check after the window "
                        "finds it expired (409)."),
        "security": [{"bearerAuth": []}],
        "parameters": [ID],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": ref("Check")}}},
        "responses": {"200": json_body("The verdict of this check.", ref("CheckResult")),
                      **errors("400", "401", "403", "404", "408", "409", "429", "503")},
    }


def cancel() -> Json:
    return {
        "tags": [TAG], "operationId": "cancelVerification",
        "summary": "Cancel: hang up a live call, or end a queued one (refunded)",
        "description": "Idempotent: a canceled verification answers 200 again.",
        "security": [{"bearerAuth": []}],
        "parameters": [ID],
        "responses": {"200": json_body("The verification, canceled.", ref("Verification")),
                      **errors("401", "403", "404", "408", "409", "429", "503")},
    }


def paths() -> Json:
    return {
        "/v1/verifications": {"post": create(), "get": list_verifications()},
        "/v1/verifications/{id}": {"get": get()},
        "/v1/verifications/{id}/check": {"post": check()},
        "/v1/verifications/{id}/cancel": {"post": cancel()},
    }
