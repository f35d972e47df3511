"""The body of POST /v1/verifications and its Idempotency-Key, validated
(pure): a `V1Request`, or a `Malformed` naming the field (answered 400).
api/v1_verifications.py runs the checks after these, in the documented order.

The body is a JSON object of at most MAX_BODY bytes with only these fields
(null is the same as absent for the optional ones):

    phone         required: "+" and a possible international number (E.164)
    channel       required: keypad, caller_id or voice (engine/v1_status.py)
    code          digits as a string: keypad and voice 4-10, caller_id exactly 4;
                  absent: one is generated (GENERATED_DIGITS) and answered once
    locale        one of engine/locales.py LOCALES (default en): the prompts' language
    callback_url  http(s) URL the egress guard lets events go to (engine/egress.py)
    caller_id     keypad and voice: the number shown, E.164 digits ("+" optional);
                  whether this account may show it is decided later (403).
                  caller_id channel: refused, the calling number carries the code.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from api.password_call_request import possible_number
from engine.egress import url_refusal
from engine.locales import DEFAULT_LOCALE, LOCALES
from engine.v1_status import CALLER_ID, CHANNELS, KEYPAD, VOICE

MAX_BODY = 4096
FIELDS = ("phone", "channel", "code", "locale", "callback_url", "caller_id")
CODE_DIGITS = {KEYPAD: (4, 10), CALLER_ID: (4, 4), VOICE: (4, 10)}
GENERATED_DIGITS = {KEYPAD: 6, CALLER_ID: 4, VOICE: 6}
PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
CALLER_ID_DIGITS = re.compile(r"\+?[0-9]{1,15}")
MAX_IDEMPOTENCY_KEY = 255
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces


@dataclass(frozen=True)
class Malformed:
    """A 400: the field that is wrong and what it must be."""

    field: str
    message: str


@dataclass(frozen=True)
class V1Request:
    e164: str  # digits, no plus
    country_code: str
    national_number: str
    channel: str
    code: str | None  # None: the service picks one (`pick_code`)
    locale: str
    callback_url: str
    caller_id: str | None  # digits, no plus
    fingerprint: str  # the request's hash, compared for an Idempotency-Key


def parse_body(raw: bytes, egress_allow: tuple[str, ...] = ()) -> V1Request | Malformed:
    """Validate the JSON body; a `Malformed` naming the first wrong field.
    `egress_allow`: the settings' networks a callback may go to though not
    globally routable."""
    if len(raw) > MAX_BODY:
        return Malformed("body", f"must be at most {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return Malformed("body", "must be a JSON object")
    if not isinstance(body, dict):
        return Malformed("body", "must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        return Malformed(unknown[0], f"is not a field (the fields: {', '.join(FIELDS)})")
    given = {name: value for name, value in body.items() if value is not None}
    phone, channel = given.get("phone"), given.get("channel")
    if phone is None:
        return Malformed("phone", "is required")
    if not isinstance(phone, str) or not PHONE.fullmatch(phone):
        return Malformed("phone", 'must be a string: "+", then the number in E.164 '
                                  "(country code first, 7-15 digits)")
    number = possible_number(phone[1:])
    if number is None:
        return Malformed("phone", "is not a possible international number")
    if channel is None:
        return Malformed("channel", "is required")
    if channel not in CHANNELS:
        return Malformed("channel", f"must be one of {', '.join(CHANNELS)}")
    code = given.get("code")
    low, high = CODE_DIGITS[channel]
    if code is not None and (not isinstance(code, str) or not code.isascii()
                             or not code.isdigit() or not low <= len(code) <= high):
        digits = f"{low}" if low == high else f"{low}-{high}"
        return Malformed("code", f"must be a string of {digits} digits for the {channel} channel")
    locale = given.get("locale", DEFAULT_LOCALE)
    if locale not in LOCALES:
        return Malformed("locale", f"must be one of {', '.join(LOCALES)}")
    callback_url = given.get("callback_url", "")
    if not isinstance(callback_url, str):
        return Malformed("callback_url", "must be a string: an http(s) URL")
    refused = url_refusal(callback_url, egress_allow) if callback_url else None
    if refused is not None:
        return Malformed("callback_url", f"refused: {refused}")
    caller_id = given.get("caller_id")
    if caller_id is not None and channel == CALLER_ID:
        return Malformed("caller_id", "is not taken on the caller_id channel (the calling "
                                      "number is the service's prefix and the code)")
    if caller_id is not None and (not isinstance(caller_id, str)
                                  or not CALLER_ID_DIGITS.fullmatch(caller_id)):
        return Malformed("caller_id", "must be a string of 1-15 digits (E.164, country code "
                                      "first; a leading + is allowed)")
    country_code = str(number.country_code)
    e164 = phone[1:]
    return V1Request(
        e164=e164, country_code=country_code, national_number=e164[len(country_code):],
        channel=channel, code=code, locale=locale, callback_url=callback_url,
        caller_id=caller_id.removeprefix("+") if caller_id else None,
        fingerprint=fingerprint(given))


def fingerprint(given: dict) -> str:
    """The hash of the request's fields as given (key order and spacing aside)."""
    canonical = json.dumps(given, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(header: str | None) -> str | None | Malformed:
    """The Idempotency-Key header's value (None when absent), or a `Malformed`."""
    if header is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(header):
        return Malformed("Idempotency-Key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable "
                                            "ASCII characters without spaces")
    return header


def pick_code(request: V1Request) -> str:
    """The client's code, or a random one of the channel's length (leading zeros kept)."""
    if request.code is not None:
        return request.code
    digits = GENERATED_DIGITS[request.channel]
    return f"{secrets.randbelow(10 ** digits):0{digits}d}"
