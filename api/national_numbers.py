"""A national number of a country as E.164 digits, the way reverse verify takes it.

`library_e164_number` is phonenumbers' own answer: `parse(phone_number,
region)`, its possible-number check, the national significant number.
`fast_e164_number` gives the same answer for the one input the API lets
through, ASCII digits only. `parse` first cleans free text (letters, "tel:"
URIs, punctuation, extensions, a leading plus), then strips prefixes and
checks lengths; on digits the cleaning changes nothing, so the fast path runs
only the prefix and length steps, through phonenumbers' own private functions
and metadata, skipping work that every request of the front door would do.

`e164_number` is the fast path when every private name it calls is there
(checked once, at import), else the library path, with one warning.
tests/unit/test_national_numbers.py compares the two on digit strings of
every calling code.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

import phonenumbers
from phonenumbers import phonenumberutil as steps
from phonenumbers.phonemetadata import PhoneMetadata

from engine.seams import choose, missing

DIGITS = re.compile(r"[0-9]{1,20}")
NON_GEOGRAPHIC = "001"
MIN_NSN, MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN and _MAX_LENGTH_FOR_NSN
NOT_STRIPPED = (phonenumbers.ValidationResult.TOO_SHORT,
                phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
                phonenumbers.ValidationResult.INVALID_LENGTH)


# The names of phonenumbers' inside that fast_e164_number calls.
PRIVATE = tuple(f"phonenumbers.phonenumberutil:{name}" for name in (
    "_is_viable_phone_number", "_maybe_strip_national_prefix_carrier_code",
    "_test_number_length", "_parse_prefix_as_idd", "re_compile", "_extract_country_code",
    "_match_national_number", "_MIN_LENGTH_FOR_NSN", "_MAX_LENGTH_FOR_NSN"))


def calling_region(country_code: str, phone_number: str) -> tuple[int, str] | None:
    """The calling code and its main region, if the number is digits and the code is known."""
    if not DIGITS.fullmatch(phone_number):
        return None
    calling_code = int(country_code)
    region = phonenumbers.region_code_for_country_code(calling_code)
    if region == phonenumbers.UNKNOWN_REGION:
        return None
    return calling_code, region


def library_e164_number(country_code: str, phone_number: str) -> str | None:
    """E.164 digits (no plus) for a national number in a country, or None if impossible.

    None also for a local-only number (7-digit NANP: a trunk cannot dial it) and
    for one whose international prefix names another country (UK "001...").
    """
    known = calling_region(country_code, phone_number)
    if known is None:
        return None
    calling_code, region = known
    try:
        if region == NON_GEOGRAPHIC:  # global services (+800, +882 ...)
            number = phonenumbers.parse(f"+{calling_code}{phone_number}", None)
        else:
            number = phonenumbers.parse(phone_number, region)
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != calling_code:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return f"{calling_code}{phonenumbers.national_significant_number(number)}"


def fast_e164_number(country_code: str, phone_number: str) -> str | None:
    """What library_e164_number answers, by the prefix and length steps alone."""
    known = calling_region(country_code, phone_number)
    if known is None:
        return None
    calling_code, region = known
    if region == NON_GEOGRAPHIC:  # rare: through `parse` itself
        return library_e164_number(country_code, phone_number)
    if not steps._is_viable_phone_number(phone_number):
        return None
    # A known region (calling_region), so never None.
    metadata = cast(PhoneMetadata, PhoneMetadata.metadata_for_region(region, None))
    found_code, national = _country_code_in(phone_number, metadata)
    if found_code == 0:
        national = phone_number  # no prefix: the digits are the national number
    elif found_code != calling_code:
        return None
    if len(national) < MIN_NSN:
        return None
    _, stripped, _ = steps._maybe_strip_national_prefix_carrier_code(national, metadata)
    if steps._test_number_length(stripped, metadata) not in NOT_STRIPPED:
        national = stripped
    if not MIN_NSN <= len(national) <= MAX_NSN:
        return None
    # On digits, the national significant number is `national` itself (its
    # Italian leading zeros are kept).
    if steps._test_number_length(national, metadata) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return f"{calling_code}{national}"


def _country_code_in(digits: str, metadata) -> tuple[int | None, str]:
    """The calling code the digits start with, through the region's international
    prefix (UK "0044...") or as the region's own code ("1202..." in NANP), and
    the rest; (0, "") when there is none, (None, "") when the prefix leads nowhere.
    phonenumbers' _maybe_extract_country_code on digits, without its normalizing."""
    if metadata.international_prefix is not None:
        through_idd, rest = steps._parse_prefix_as_idd(
            # Not in phonenumbers' stubs; there by fast_path_missing's check.
            steps.re_compile(metadata.international_prefix), digits)  # type: ignore[attr-defined]
        if through_idd:
            if len(rest) <= MIN_NSN:
                return None, ""
            found, national = steps._extract_country_code(rest)
            return (found, national) if found else (None, "")
    own = str(metadata.country_code)
    if digits.startswith(own):
        _, national, _ = steps._maybe_strip_national_prefix_carrier_code(digits[len(own):], metadata)
        general = metadata.general_desc
        if ((not steps._match_national_number(digits, general, False)
             and steps._match_national_number(national, general, False))
                or steps._test_number_length(digits, metadata) == phonenumbers.ValidationResult.TOO_LONG):
            return metadata.country_code, national
    return 0, ""


def fast_path_missing() -> str | None:
    """The first private name fast_e164_number calls that is not there, or None;
    the lengths it copies must still be phonenumbers' own."""
    name = missing(PRIVATE)
    if name is None and (steps._MIN_LENGTH_FOR_NSN, steps._MAX_LENGTH_FOR_NSN) != (MIN_NSN, MAX_NSN):
        name = "phonenumbers.phonenumberutil._MIN_LENGTH_FOR_NSN or _MAX_LENGTH_FOR_NSN (value changed)"
    return name


def choose_e164_number() -> Callable[[str, str], str | None]:
    return choose("national numbers", fast_e164_number, library_e164_number, fast_path_missing())


e164_number = choose_e164_number()
