"""An E.164 number's region, and whether phonenumbers types it as one of the
kinds callverify never dials (premium rate, shared cost, personal number, UAN,
voicemail access: the revenue-share kinds of toll fraud).

`library_destination` asks phonenumbers itself: `region_code_for_number`
(for a number no region claims, such as NANP 555 numbers, its calling code's
main region, as `region_code_for_country_code` names it) and `number_type`.
Both run a region's patterns one at a time; for a NANP number no region
claims, that is 25 regions' patterns, twice, on every request.

`fast_destination` gives the same answer from the same metadata, with the
patterns compiled once per calling code and joined:
- the region: per calling code and number length, one alternation of its
  regions in phonenumbers' order, a region by its leading digits (Jamaica:
  658 or 876) or, without them (US, CA, GB), by validating the number (its
  general description, then any type);
- the refused types of a region are one pattern per length; a number it
  matches (a refusal: rare) is typed by `phonenumbers.number_type` itself,
  which also settles which type comes first when several match.

`destination` is the fast path while the metadata it reads is there (checked
once, at import), else the library path, with one warning.
tests/unit/test_number_lookup.py compares the two on numbers of every type of
every region and on random digits of every calling code.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

from engine.seams import choose, missing

REFUSED_TYPES = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST,
                           PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.UAN,
                           PhoneNumberType.VOICEMAIL})
NON_GEOGRAPHIC = "001"
MAX_NSN = 17  # phonenumbers' _MAX_LENGTH_FOR_NSN
# The descriptions phonenumbers' number_type tries, the refused ones among them.
TYPE_DESCRIPTIONS = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                     "pager", "uan", "voicemail", "fixed_line", "mobile")
REFUSED_DESCRIPTIONS = ("premium_rate", "shared_cost", "personal_number", "uan", "voicemail")
# What fast_destination reads of phonenumbers (a name, or an attribute of the
# US metadata and of its descriptions).
NAMES = ("phonenumbers:COUNTRY_CODE_TO_REGION_CODE",
         "phonenumbers.phonemetadata:PhoneMetadata.metadata_for_region",
         "phonenumbers.phonemetadata:PhoneMetadata.metadata_for_nongeo_region")
METADATA_ATTRIBUTES = ("general_desc", "leading_digits", "same_mobile_and_fixed_line_pattern",
                       *TYPE_DESCRIPTIONS)
DESCRIPTION_ATTRIBUTES = ("possible_length", "national_number_pattern")


def phone_number(calling_code: int, national: str) -> phonenumbers.PhoneNumber:
    """The PhoneNumber of a national significant number, leading zeros as parse keeps them."""
    number = phonenumbers.PhoneNumber(country_code=calling_code, national_number=int(national))
    zeros = len(national) - len(national.lstrip("0"))
    if zeros and len(national) > 1:
        number.italian_leading_zero = True
        zeros = min(zeros, len(national) - 1)
        if zeros > 1:
            number.number_of_leading_zeros = zeros
    return number


def library_destination(calling_code: int, national: str) -> tuple[str, bool]:
    """(the number's region or its calling code's main region, whether its type is refused)."""
    number = phone_number(calling_code, national)
    region = (phonenumbers.region_code_for_number(number)
              or phonenumbers.region_code_for_country_code(calling_code))
    return region, phonenumbers.number_type(number) in REFUSED_TYPES


def fast_destination(calling_code: int, national: str) -> tuple[str, bool]:
    """What library_destination answers, through patterns compiled once."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code)
    if regions is None or not 0 < len(national) <= MAX_NSN:  # not from the APIs: rare
        return library_destination(calling_code, national)
    region = regions[0] if len(regions) == 1 else _region_among(calling_code, national)
    if region is None:  # no region: number_type answers UNKNOWN
        return regions[0], False
    refused = _refused_patterns(calling_code, region).get(len(national))
    if refused is None or refused.fullmatch(national) is None:
        return region, False
    return region, phonenumbers.number_type(phone_number(calling_code, national)) in REFUSED_TYPES


def _region_among(calling_code: int, national: str) -> str | None:
    """phonenumbers' _region_code_for_number_from_list, as one pattern match."""
    pattern, regions = _region_patterns(calling_code)[len(national)]
    found = pattern.match(national)
    # Each alternative is one named group around the whole of it: it closes
    # last, so it is lastgroup.
    return None if found is None else regions[found.lastgroup or ""]


@functools.cache
def _region_patterns(calling_code: int) -> dict[int, tuple[re.Pattern[str], dict[str, str]]]:
    """Per length, one alternation of the calling code's regions in phonenumbers'
    order: a region with leading digits matches by them; one without, by a
    lookahead validating the whole number. The first alternative that matches
    wins, as the first region does in phonenumbers; its group names the region."""
    tests: list[tuple[str, str | dict[int, str]]] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[calling_code]:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        tests.append((region, metadata.leading_digits if metadata.leading_digits is not None
                      else _validation(metadata)))
    out = {}
    for length in range(1, MAX_NSN + 1):
        names: dict[str, str] = {}
        alternatives = []
        for region, test in tests:
            if isinstance(test, str):
                alternative = test
            elif length in test:
                alternative = rf"(?=(?:{test[length]})\Z)"
            else:
                continue  # no number of this length is valid there
            name = f"r{len(names)}"
            names[name] = region
            alternatives.append(f"(?P<{name}>{alternative})")
        out[length] = (re.compile("|".join(alternatives) or "(?!)"), names)
    return out


def _metadata(calling_code: int, region: str) -> PhoneMetadata | None:
    if region == NON_GEOGRAPHIC:
        return PhoneMetadata.metadata_for_nongeo_region(calling_code, None)
    return PhoneMetadata.metadata_for_region(region, None)


def _fits(description, length: int) -> str | None:
    """The description's pattern if a number of `length` digits may match it
    (phonenumbers' _is_number_matching_desc: no pattern, never; listed possible
    lengths, only those)."""
    if description is None or not description.national_number_pattern:
        return None
    lengths = description.possible_length
    if len(lengths) > 0 and length not in lengths:
        return None
    return description.national_number_pattern


def _per_length(build: Callable[[int], str | None]) -> dict[int, str]:
    patterns = {length: build(length) for length in range(1, MAX_NSN + 1)}
    return {length: pattern for length, pattern in patterns.items() if pattern is not None}


def _any_of(patterns: Iterable[str | None]) -> str | None:
    present = [f"(?:{p})" for p in patterns if p is not None]
    return "|".join(present) if present else None


def _validation(metadata: PhoneMetadata) -> dict[int, str]:
    """Per length, a pattern a number matches (whole) when number_type is not UNKNOWN."""
    kinds = [name for name in TYPE_DESCRIPTIONS
             if not (name == "mobile" and metadata.same_mobile_and_fixed_line_pattern)]

    def build(length: int) -> str | None:
        general = _fits(metadata.general_desc, length)
        types = _any_of(_fits(getattr(metadata, name), length) for name in kinds)
        if general is None or types is None:
            return None
        return rf"(?=(?:{general})\Z)(?:{types})"
    return _per_length(build)


@functools.cache
def _refused_patterns(calling_code: int, region: str) -> dict[int, re.Pattern[str]]:
    """Per length, a pattern every number of a refused type matches."""
    metadata = _metadata(calling_code, region)
    if metadata is None:
        return {}
    patterns = _per_length(lambda length: _any_of(
        _fits(getattr(metadata, name), length) for name in REFUSED_DESCRIPTIONS))
    return {length: re.compile(pattern) for length, pattern in patterns.items()}


def prepare(regions: Iterable[str]) -> None:
    """Compile, now, the fast path's patterns for numbers of these regions
    (otherwise the first request of each calling code compiles them)."""
    for region in regions:
        calling_code = phonenumbers.country_code_for_region(region)
        if calling_code:
            if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[calling_code]) > 1:
                _region_patterns(calling_code)
            _refused_patterns(calling_code, region)


def fast_path_missing() -> str | None:
    """The first name or metadata attribute fast_destination reads that is not there, or None."""
    name = missing(NAMES)
    if name is not None:
        return name
    metadata = PhoneMetadata.metadata_for_region("US", None)
    if metadata is None:
        return "phonenumbers.phonemetadata.PhoneMetadata.metadata_for_region"
    for attribute in METADATA_ATTRIBUTES:
        if not hasattr(metadata, attribute):
            return f"phonenumbers.phonemetadata.PhoneMetadata.{attribute}"
    for attribute in DESCRIPTION_ATTRIBUTES:
        if not hasattr(metadata.general_desc, attribute):
            return f"phonenumbers.phonemetadata.PhoneNumberDesc.{attribute}"
    return None


def choose_destination() -> Callable[[int, str], tuple[str, bool]]:
    return choose("number regions and types", fast_destination, library_destination,
                  fast_path_missing())


destination = choose_destination()
