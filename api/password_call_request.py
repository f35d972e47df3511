"""The password call's request, validated: the bearer token of its
Authorization header and its JSON body (pure functions; the handler is
api/password_call.py, which documents the order of the checks)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import phonenumbers

MAX_BODY = 4096
MAX_TOKEN = 512
PHONE_NUMBER = re.compile(r"[0-9]{8,15}")
CODE = re.compile(r"[0-9]{4}")
BEARER = re.compile(r"Bearer +([A-Za-z0-9._~+/-]+=*) *", re.IGNORECASE)


@dataclass(frozen=True)
class PasswordCallRequest:
    phone_number: str
    e164: str  # the dialled number, digits only
    country_code: str
    verification_code: str | None  # None: the service picks one
    is_with_redirect: bool


@dataclass(frozen=True)
class Refusal:
    """An answer other than success: HTTP status and the client-facing error."""

    status: int
    error: str
    retry_after: int = 0  # seconds, sent as Retry-After when set


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization or len(authorization) > MAX_TOKEN:
        return None
    match = BEARER.fullmatch(authorization)
    return match.group(1) if match else None


def parse_body(raw: bytes) -> PasswordCallRequest | Refusal:
    """Validate the JSON body; a 400 Refusal naming the field when it is not right."""
    if len(raw) > MAX_BODY:
        return Refusal(400, f"body over {MAX_BODY} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return Refusal(400, "body is not valid JSON")
    if not isinstance(body, dict):
        return Refusal(400, "body must be a JSON object")
    phone_number = body.get("phone_number")
    if phone_number is None:
        return Refusal(400, "phone_number is required")
    if not isinstance(phone_number, str) or not PHONE_NUMBER.fullmatch(phone_number):
        return Refusal(400, "phone_number must be a string of 8-15 digits, country code first, no plus")
    number = possible_number(phone_number)
    if number is None:
        return Refusal(400, "phone_number is not a possible international number")
    code = body.get("verification_code")
    if code == "":
        code = None
    if code is not None and (not isinstance(code, str) or not CODE.fullmatch(code)):
        return Refusal(400, "verification_code must be a string of 4 digits, or empty")
    is_with_redirect = body.get("is_with_redirect", False)
    if not isinstance(is_with_redirect, bool):
        return Refusal(400, "is_with_redirect must be true or false")
    return PasswordCallRequest(
        phone_number=phone_number,
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:],
        country_code=str(number.country_code), verification_code=code,
        is_with_redirect=is_with_redirect)


def possible_number(digits: str) -> phonenumbers.PhoneNumber | None:
    """The parsed "+digits", if it is a possible number dialable from abroad."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return number
