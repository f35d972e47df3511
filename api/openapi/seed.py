"""The two seed APIs as they behave (api/reverse_verify.py, api/password_call.py,
api/cors.py): called.in's reverse verify and MCN's password call."""
from __future__ import annotations

from api.openapi.parts import Json, json_body, ref, retry_after, slow_body, text, unavailable

REVERSE_VERIFY_TAG = "Seed: reverse verify (called.in)"
PASSWORD_CALL_TAG = "Seed: password call (MCN)"
PASSWORD_CALL_PATH = "/api/protected/api/auth/passwordcall"


def _query(name: str, description: str, pattern: str, required: bool = True) -> Json:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


REVERSE_VERIFY_PARAMETERS = [
    _query("api_key", "The account's API key (`callverify account create`); unknown: 1.", ".+"),
    _query("phone_number", "The national number (digits) to call; not a possible number "
           "of that country: 4.", "^[0-9]+$"),
    _query("country_code", "The calling code, 1-3 digits (1 for NANP, 44 for the UK).",
           "^[1-9][0-9]{0,2}$"),
    _query("code", "The code the person keys on the call, 1-6 digits.", "^[0-9]{1,6}$"),
    {"name": "callback_url", "in": "query", "required": True,
     "description": "http(s) URL the result is sent to (GET); a URL the egress guard "
                    "refuses (private address, credentials, not http(s)) answers 4.",
     "schema": {"type": "string", "format": "uri"}},
    {"name": "secret", "in": "query", "required": False,
     "description": "Echoed in the callback, at most 30 characters.",
     "schema": {"type": "string", "maxLength": 30}},
    _query("caller_id", "Number to show, 1-15 digits; the default, or one on the "
           "account's list (`callverify account caller-id add`), else 4.",
           "^[0-9]{1,15}$", required=False),
]

RETURN_CODES = """The return code alone (text/plain). Checked in this order; the first failing check answers:

| code | when |
|---|---|
| 4 | malformed: a parameter missing, empty, repeated or of the wrong form; callback_url refused |
| 1 | unknown api_key |
| 5 | the key's account is disabled |
| 4 | a caller_id not on the account's list, or one never shown |
| 8 | the number's region is not in CALLVERIFY_REGIONS |
| 7 | a refused number type, a blocked prefix, or a prefix the velocity alarm blocked |
| 3 | the number is on the do-not-call list |
| 6 | flood: this account called the number less than CALLVERIFY_FLOOD_SECONDS ago, or the \
number's daily cap |
| 2 | the balance is below the call's price, or the hourly spend limit would be passed |
| 0 | accepted: charged once, the call follows, the result goes to callback_url |
"""


def reverse_verify_operation(operation_id: str) -> Json:
    return {
        "tags": [REVERSE_VERIFY_TAG],
        "operationId": operation_id,
        "summary": "Call the number; the person keys the code the site shows",
        "description": ("The seed API, unchanged: every answer is a return code in a "
                        "text/plain body. With and without the trailing slash (no redirect); "
                        "HEAD is not served (a HEAD must not place a call)."),
        "parameters": REVERSE_VERIFY_PARAMETERS,
        "responses": {
            "200": text(RETURN_CODES, {"type": "string", "enum": [str(c) for c in range(9)]}),
            "408": slow_body(),
            "429": text("`6`: the client address is over CALLVERIFY_RATE_PER_ADDRESS (every "
                        "request counts, checked first) or its key over CALLVERIFY_RATE_PER_KEY.",
                        {"type": "string", "enum": ["6"]}, retry_after()),
            "503": unavailable("`9` (callverify's own code), with Retry-After: busy, the engines "
                               "cannot start the call within CALLVERIFY_MAX_QUEUE_SECONDS, "
                               "nothing charged; or a storage outage or unexpected failure "
                               "(`service unavailable…`)"),
        },
    }


PASSWORD_CALL_ERRORS = {
    "400": "Malformed body (not JSON, not an object, over 4 KiB, wrong types, `phone_number` "
           "not 8-15 digits or not a possible number, `verification_code` not 4 digits or "
           "empty); `country not supported` (region); `number not supported` (refused type, "
           "blocked prefix, velocity alarm).",
    "402": "`insufficient balance`, or over the account's hourly spend limit: no call; the "
           "body names the `verification_uuid` and the webhook gets its record "
           "(q931_status 41).",
    "403": "`account disabled`; `number is on the do-not-call list`.",
}


def password_call_post() -> Json:
    cors = {"Access-Control-Allow-Origin": {
                "description": "The request's Origin, when CALLVERIFY_CORS_ORIGINS lists it.",
                "schema": {"type": "string"}},
            "Vary": {"description": "Always `Origin`.", "schema": {"type": "string"}}}
    responses: Json = {
        "200": json_body("Accepted: charged, stored and queued; the call follows.",
                         ref("PasswordCallAccepted"), cors),
        "401": json_body("Missing or malformed `Authorization: Bearer`, or an unknown token.",
                         ref("SeedError"), {"WWW-Authenticate": {
                             "description": "`Bearer`", "required": True,
                             "schema": {"type": "string"}}}),
        "408": slow_body(json_error=True),
        "429": json_body("`rate limited` (per address, checked first, or per token), flood "
                         "protection (this account called the number less than "
                         "CALLVERIFY_FLOOD_SECONDS ago) or the number's daily cap.",
                         ref("SeedError"), retry_after(
                             required=False, why="Set on `rate limited`.")),
        "503": unavailable("`busy`, with Retry-After: the engines cannot start the call in "
                           "time, nothing charged; or storage unreachable", json_error=True),
    }
    for status, said in PASSWORD_CALL_ERRORS.items():
        responses[status] = json_body(said, ref("SeedError"))
    return {
        "tags": [PASSWORD_CALL_TAG],
        "operationId": "passwordCall",
        "summary": "Call from a number that ends in the code",
        "description": ("The seed API, unchanged. The calling number is CALLVERIFY_CLI_PREFIX "
                        "+ the 4-digit code; answered, the call says the code. Checked in this "
                        "order: 429 rate, 401, 403 disabled, 400 body, 400 region/type/prefix, "
                        "403 do-not-call, 429 flood/daily cap, 402, 503 busy, 200. Every "
                        "answer carries `Vary: Origin` and, for a listed origin, "
                        "`Access-Control-Allow-Origin`. Other methods than POST and OPTIONS "
                        "answer 405."),
        "security": [{"bearerAuth": []}],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": ref("PasswordCallRequest")}}},
        "responses": responses,
    }


def password_call_preflight() -> Json:
    return {
        "tags": [PASSWORD_CALL_TAG],
        "operationId": "passwordCallPreflight",
        "summary": "CORS preflight",
        "description": "For browser clients; the origins allowed are CALLVERIFY_CORS_ORIGINS.",
        "parameters": [{"name": "Origin", "in": "header", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {
            "204": {"description": "A listed origin: the allow headers.", "headers": {
                name: {"required": True, "schema": {"type": "string"}, "description": said}
                for name, said in (
                    ("Access-Control-Allow-Origin", "The request's Origin."),
                    ("Access-Control-Allow-Methods", "`POST, OPTIONS`"),
                    ("Access-Control-Allow-Headers",
                     "`Authorization, Content-Type, Accept, Sec-Fetch-Mode`"),
                    ("Access-Control-Max-Age", "`600`"),
                    ("Vary", "`Origin`"))}},
            "403": text("Any other origin (or none): `origin not allowed`, no allow headers."),
            "408": slow_body(),
            "503": unavailable(),
        },
    }


def paths() -> Json:
    return {
        "/api/reverse_verify/": {"get": reverse_verify_operation("reverseVerify")},
        "/api/reverse_verify": {"get": reverse_verify_operation("reverseVerifyNoSlash")},
        PASSWORD_CALL_PATH: {"post": password_call_post(), "options": password_call_preflight()},
    }


SCHEMAS: Json = {
    "PasswordCallRequest": {
        "type": "object",
        "required": ["phone_number"],
        "properties": {
            "phone_number": {"type": "string", "pattern": "^[0-9]{8,15}$",
                             "description": "International number, country code first, no plus.",
                             "examples": ["421222202004"]},
            "verification_code": {"type": ["string", "null"], "pattern": "^([0-9]{4})?$",
                                  "description": "4 digits; empty, null or absent: "
                                                 "the service picks one and returns it."},
            "is_with_redirect": {"type": "boolean", "default": False,
                                 "description": "Wait (at most CALLVERIFY_REDIRECT_WAIT_SECONDS) "
                                                "until the call rings, answers or fails, so "
                                                "`is_redirect` is known."},
        },
    },
    "PasswordCallAccepted": {
        "type": "object",
        "required": ["ok", "caller_number", "verification_code", "verification_uuid",
                     "is_redirect"],
        "additionalProperties": False,
        "properties": {
            "ok": {"const": True},
            "caller_number": {"type": "string", "pattern": "^[0-9]+$"},
            "verification_code": {"type": "string", "pattern": "^[0-9]{4}$"},
            "verification_uuid": {"type": "string", "pattern": "^[0-9a-f]+_[0-9]+$"},
            "is_redirect": {"type": "boolean"},
        },
    },
    "SeedError": {
        "type": "object",
        "required": ["ok", "error"],
        "additionalProperties": False,
        "properties": {
            "ok": {"const": False},
            "error": {"type": "string"},
            "verification_uuid": {"type": "string", "pattern": "^[0-9a-f]+_[0-9]+$",
                                  "description": "On 402 only: the refused call's record."},
        },
    },
}
