"""The /v1 API's bodies: the verification object (engine/v1_status.py
`view`), the create and check requests, and RFC 9457 problems
(api/v1_problems.py)."""
from __future__ import annotations

from api.openapi.parts import PROBLEM_PREFIX, Json, ref
from engine.locales import LOCALES
from engine.v1_status import CHANNELS, FAILURE_REASONS, STATUSES

E164 = "^\\+[1-9][0-9]{6,14}$"
TIME = {"type": "string", "format": "date-time",
        "description": "ISO 8601 UTC with milliseconds, e.g. `2026-12-03T19:40:49.123Z`."}


def nullable(schema: Json, description: str) -> Json:
    """`schema` or null."""
    kind = schema["type"]
    return {**schema, "type": [kind, "null"], "description": description}


def integer(description: str, minimum: int = 0) -> Json:
    return {"type": "integer", "minimum": minimum, "description": description}


VERIFICATION: Json = {
    "type": "object",
    "description": "Every key is always present; null when not known.",
    "properties": {
        "id": {"type": "string", "description": "The verification's id."},
        "phone": {"type": "string", "pattern": E164},
        "channel": {"enum": list(CHANNELS)},
        "locale": {"type": "string", "description": "The prompts' language."},
        "status": {"enum": list(STATUSES), "description": (
            "queued (waiting for an engine; past CALLVERIFY_MAX_QUEUE_SECONDS it is expired), "
            "calling, ringing, answered (for voice and caller_id: awaiting a check), "
            "verified, failed, expired, canceled.")},
        "failure_reason": {"enum": [*FAILURE_REASONS, None], "description": (
            "Set when status is failed, expired or canceled.")},
        "caller_id": nullable({"type": "string"}, "The number shown (null for caller_id: "
                              "there the calling number carries the code)."),
        "callback_url": nullable({"type": "string"}, "The request's callback_url."),
        "created_at": TIME,
        "expires_at": nullable(dict(TIME), "End of the check window (voice, caller_id)."),
        "answered_at": nullable(dict(TIME), "When the call was answered."),
        "ended_at": nullable(dict(TIME), "When the call ended."),
        "checks": integer("Checks made."),
        "checks_left": nullable(integer(""), "Checks left (voice, caller_id); null for keypad."),
        "attempts": integer("Codes keyed on a keypad call."),
        "answered": {"type": "boolean"},
        "is_redirect": {"type": "boolean", "description": "The call was forwarded (181 or 3xx)."},
        "sip_status": nullable(integer("", 100), "The final SIP status of the call."),
        "q850_cause": nullable(integer(""), "The Q.850 cause the call ended with."),
        "post_dial_delay_ms": nullable(integer(""), "From placing the call to ringing."),
        "ring_ms": nullable(integer(""), "From ringing to the answer, or to the end."),
        "duration_s": nullable({"type": "number", "minimum": 0}, "From the answer to the end."),
        "price": {"type": "number", "minimum": 0, "description": "Charged, in currency units."},
        "refunded": {"type": "boolean"},
    },
}
VERIFICATION["required"] = list(VERIFICATION["properties"])

CREATED: Json = {
    "allOf": [ref("Verification"), {
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[0-9]{4,10}$", "description": (
                "The code (given or generated): in the 201 and its replays only, and only "
                "while the verification has not ended.")},
            "caller_number": {"type": "string", "pattern": "^\\+[0-9]+$", "description": (
                "caller_id channel: the number that calls, ending in the code; as `code`.")},
        }}],
}

CREATE: Json = {
    "type": "object",
    "required": ["phone", "channel"],
    "additionalProperties": False,
    "description": "Another field is 400; null is the same as absent for the optional ones.",
    "properties": {
        "phone": {"type": "string", "pattern": E164, "examples": ["+12025550100"],
                  "description": "A possible international number, E.164 with the +."},
        "channel": {"enum": list(CHANNELS), "description": (
            "keypad: we call, the person keys the code your site shows. caller_id: the code is "
            "the end of the calling number (4 digits), spoken if answered; check the digits "
            "the person types. voice: we call and say the code; check what the person types.")},
        "code": {"type": ["string", "null"], "pattern": "^[0-9]{4,10}$", "description": (
            "keypad and voice: 4-10 digits; caller_id: exactly 4. Absent: 6 digits "
            "(caller_id: 4) are generated and returned.")},
        "locale": {"enum": [*LOCALES, None], "default": "en", "description": (
            "Language of the prompts and the spoken digits; another locale is 400.")},
        "callback_url": {"type": ["string", "null"], "format": "uri", "description": (
            "Also POST the verification's events here (http(s); the egress guard applies: "
            "no private addresses, no credentials).")},
        "caller_id": {"type": ["string", "null"], "pattern": "^\\+?[0-9]{1,15}$",
                      "description": (
                          "keypad and voice: the number shown, the default or one on the "
                          "account's list (else 403); not taken on caller_id (400).")},
    },
}

LIST: Json = {
    "type": "object",
    "required": ["data", "next_cursor"],
    "additionalProperties": False,
    "properties": {
        "data": {"type": "array", "maxItems": 100, "items": ref("Verification"),
                 "description": "Newest first."},
        "next_cursor": {"type": ["string", "null"],
                        "description": "Pass as `cursor` for the next page; null at the end."},
    },
}

CHECK: Json = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string", "pattern": "^[0-9]{4,10}$",
                            "description": "What the person typed."}},
}

CHECKED: Json = {
    "type": "object",
    "required": ["verified", "checks_left", "verification"],
    "properties": {
        "verified": {"type": "boolean"},
        "checks_left": integer("Checks still allowed; at 0 after a wrong code: failed."),
        "verification": ref("Verification"),
    },
}

PROBLEM: Json = {
    "type": "object",
    "description": "RFC 9457 problem details; `type` is stable per error.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "pattern": f"^{PROBLEM_PREFIX}[a-z_]+$"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {"type": "array", "description": "On 400: the fields at fault.", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}

SCHEMAS: Json = {"Verification": VERIFICATION, "VerificationCreated": CREATED,
                 "VerificationCreate": CREATE, "VerificationList": LIST, "Check": CHECK,
                 "CheckResult": CHECKED, "Problem": PROBLEM}
