"""The query of GET /v1/verifications, validated (pure): a `ListQuery`, or a
`Malformed` naming the parameter (answered 400).

    phone   "+" and the E.164 number (a "+" sent unencoded arrives as a space,
            and is taken as one); only that number's verifications
    since   ISO 8601 (a time without an offset is UTC) or Unix seconds:
            only verifications created at or after it (to the millisecond)
    limit   1-100 (default 20) a page
    cursor  the `next_cursor` of the page before (opaque)
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from api.v1_request import PHONE, Malformed
from engine.v1_lists import Position

PARAMETERS = ("phone", "since", "limit", "cursor")
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
VERIFICATION_ID = re.compile(r"[0-9a-f]{12}")
UNIX_SECONDS = re.compile(r"[0-9]{1,12}(\.[0-9]{1,6})?")


@dataclass(frozen=True)
class ListQuery:
    e164: str = ""  # digits, no plus; "" for every number
    since: float | None = None
    limit: int = DEFAULT_LIMIT
    after: Position | None = None


def parse_query(pairs: Iterable[tuple[str, str]]) -> ListQuery | Malformed:
    """Validate the query's (name, value) pairs."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            return Malformed(name, f"is not a parameter (the parameters: {', '.join(PARAMETERS)})")
        if name in values:
            return Malformed(name, "is given twice")
        values[name] = value
    e164 = ""
    if "phone" in values:
        phone = values["phone"].strip()
        phone = phone if phone.startswith("+") else "+" + phone
        if not PHONE.fullmatch(phone):
            return Malformed("phone", 'must be "+" and the number in E.164 (encode the + as %2B)')
        e164 = phone[1:]
    since = None
    if "since" in values:
        since = moment(values["since"])
        if since is None:
            return Malformed("since", "must be an ISO 8601 time (e.g. 2026-01-31T12:00:00Z) "
                                      "or Unix seconds")
    limit = DEFAULT_LIMIT
    if "limit" in values:
        raw = values["limit"]
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
            return Malformed("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw)
    after = None
    if "cursor" in values:
        after = position(values["cursor"])
        if after is None:
            return Malformed("cursor", "is not a next_cursor this API gave")
    return ListQuery(e164=e164, since=since, limit=limit, after=after)


def moment(text: str) -> float | None:
    """Unix seconds from ISO 8601 or Unix seconds, to the millisecond (as
    created_at is kept); None if it is neither."""
    text = text.strip()
    if UNIX_SECONDS.fullmatch(text):
        return round(float(text), 3)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp(), 3)


def cursor(after: Position) -> str:
    """The opaque `next_cursor` for a page that ends at `after`."""
    raw = json.dumps([repr(after.created_at), after.verification_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def position(text: str) -> Position | None:
    """The position a `cursor` names; None if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        created_at, verification_id = json.loads(raw)
        at = float(created_at)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        return None
    if (not math.isfinite(at) or not isinstance(verification_id, str)
            or not VERIFICATION_ID.fullmatch(verification_id)):
        return None
    return Position(at, verification_id)
