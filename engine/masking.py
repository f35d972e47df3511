"""Keep phone numbers out of logs: only their last four digits are shown."""
from __future__ import annotations


def mask_number(number: str | None) -> str:
    """Return `***` plus the last four digits, or `?` for anything not digits."""
    if not number or not number.isascii() or not number.isdigit():
        return "?"
    return "***" + number[-4:]
