"""Which numbers may be shown as a call's caller ID: the rules every API, the
CLI and the engine share.

A caller ID is written as E.164 digits, country code first, no plus. The
operator lists each account's caller IDs (`callverify account caller-id add`);
a request may show only a listed one, or the default (settings'
`default_caller_id`), which is always allowed. Whatever the list holds, a
caller ID is never shown when `caller_id_problem` finds one:

- an emergency number of any region (911, 112, 999, 000, 110, 15 ...), or a
  short string that starts with one (phonenumbers' shortnumberinfo, every region);
- a short number: fewer than MIN_DIGITS digits. No full number is that short in
  practice, and every emergency number phonenumbers knows is shorter still;
- not a possible international number (e.g. a national form without its
  country code);
- a premium-rate, shared-cost or personal number: calling it back is charged
  at a rate that pays its holder, the "wangiri" pattern. Toll-free numbers are
  allowed: calling them back costs the caller nothing, and firms show them.

`problem` texts name no number: an API can log its answer as it is.
"""
from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType, shortnumberinfo

DIGITS = re.compile(r"[0-9]{1,15}")
MIN_DIGITS = 7
REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (follow-me) number",
}
NOT_LISTED = "is not one of the account's caller IDs (callverify account caller-id add)"


@functools.cache
def longest_emergency_number() -> int:
    """The most digits an emergency number has in any region's metadata."""
    lengths = [length for region in shortnumberinfo.SUPPORTED_SHORT_REGIONS
               if (metadata := PhoneMetadata.short_metadata_for_region(region))
               and (desc := metadata.emergency) for length in desc.possible_length]
    return max(lengths)


def emergency_regions(digits: str) -> list[str]:
    """The regions where `digits` is, or starts with, an emergency number.

    Only strings no longer than the longest emergency number are looked up:
    the exact match cannot hit a longer one, and the prefix match would call
    most full numbers an emergency somewhere (+1 5xx starts with France's 15).
    """
    if len(digits) > longest_emergency_number():
        return []
    return sorted(region for region in shortnumberinfo.SUPPORTED_SHORT_REGIONS
                  if shortnumberinfo.is_emergency_number(digits, region)
                  or shortnumberinfo.connects_to_emergency_number(digits, region))


@functools.lru_cache(maxsize=1024)  # a site shows the same few caller IDs
def caller_id_problem(digits: str) -> str | None:
    """Why `digits` may never be shown as a caller ID (a phrase that follows
    the field's name, e.g. "is an emergency number"), or None."""
    if not digits.isascii() or not DIGITS.fullmatch(digits):
        return "must be 1-15 digits, country code first"
    if emergency_regions(digits):
        return "is an emergency number"
    if len(digits) < MIN_DIGITS:
        return f"is a short number (a caller ID has at least {MIN_DIGITS} digits)"
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or (phonenumbers.is_possible_number_with_reason(number)
                          != phonenumbers.ValidationResult.IS_POSSIBLE):
        return "is not a possible international number (E.164 digits, country code first)"
    refused_type = REFUSED_TYPES.get(phonenumbers.number_type(number))
    return f"is {refused_type}" if refused_type else None


def needs_listing(caller_id: str | None, default: str) -> bool:
    """Whether a request's caller ID must be on the account's list: any given
    one but the default."""
    return bool(caller_id) and caller_id != default


def shown_caller_id(caller_id: str | None, default: str) -> str:
    """The caller ID a call shows: `caller_id` when the rules allow it, else
    the default (a record stored before the rules, or changed since)."""
    if not caller_id or caller_id == default or caller_id_problem(caller_id) is not None:
        return default
    return caller_id
