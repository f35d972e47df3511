"""api.national_numbers' fast path answers as its library path (phonenumbers.parse)
does, on digit strings of every calling code: real example numbers, with and
without their national and international prefixes, and random digits of every
length the API lets through. The fast path is chosen only while the private
names of phonenumbers it calls are there."""
from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import phonenumberutil
from phonenumbers.phonemetadata import PhoneMetadata

from api import national_numbers
from api.national_numbers import e164_number, fast_e164_number, library_e164_number

NON_GEOGRAPHIC = "001"


def samples(calling_code: int, rng: random.Random) -> list[str]:
    """Digit strings a client might send for this calling code."""
    region = phonenumbers.region_code_for_country_code(calling_code)
    if region == NON_GEOGRAPHIC:
        metadata = PhoneMetadata.metadata_for_nongeo_region(calling_code, None)
    else:
        metadata = PhoneMetadata.metadata_for_region(region, None)
    national_prefix = (metadata.national_prefix or "") if metadata else ""
    examples = set()
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
                 phonenumbers.PhoneNumberType.TOLL_FREE):
        number = (phonenumbers.example_number_for_non_geo_entity(calling_code)
                  if region == NON_GEOGRAPHIC else
                  phonenumbers.example_number_for_type(region, kind))
        if number is not None:
            examples.add(phonenumbers.national_significant_number(number))
    idds = ["00", "011", "0011", "010", "810", "001", "119"]
    out = []
    for nsn in examples:
        out += [nsn, national_prefix + nsn, str(calling_code) + nsn, nsn[:-1], nsn + "0",
                *(idd + str(calling_code) + nsn for idd in idds),
                *(idd + "44" + nsn for idd in idds[:3])]
    for _ in range(100):
        length = rng.randint(1, 20)
        head = rng.choice(["", national_prefix, "0", "00", str(calling_code), "1"])
        tail = "".join(rng.choice("0123456789") for _ in range(max(0, length - len(head))))
        out.append((head + tail)[:20] or "0")
    return out


def test_every_calling_code_answers_as_phonenumbers_parse():
    """Fails when a phonenumbers upgrade makes the two paths disagree."""
    rng = random.Random(4)
    checked = differ = 0
    wrong = []
    for calling_code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for digits in samples(calling_code, rng):
            expected = library_e164_number(str(calling_code), digits)
            got = fast_e164_number(str(calling_code), digits)
            checked += 1
            differ += expected is not None
            if got != expected:
                wrong.append((calling_code, digits, expected, got))
    assert not wrong, wrong[:20]
    # The sample holds both answers in quantity, so the comparison says something.
    assert checked > 25_000 and 4_000 < differ < checked - 4_000, (checked, differ)


BOTH = pytest.mark.parametrize("path", [fast_e164_number, library_e164_number],
                               ids=["fast", "library"])


@BOTH
@pytest.mark.parametrize("country_code, phone_number, e164", [
    ("1", "2025550123", "12025550123"),
    ("1", "12025550123", "12025550123"),      # the country code repeated
    ("44", "07400123456", "447400123456"),    # the national prefix dropped
    ("39", "0212345678", "390212345678"),     # Italy keeps its leading zero
    ("421", "0905123456", "421905123456"),
    ("800", "12345678", "80012345678"),       # a non-geographic service
])
def test_known_numbers(path, country_code, phone_number, e164):
    assert path(country_code, phone_number) == e164


@BOTH
@pytest.mark.parametrize("country_code, phone_number", [
    ("1", "5550123"),             # local-only: a trunk cannot dial it
    ("44", "0012025550123"),      # the UK international prefix names +1
    ("1", "1"), ("1", "123456789012345678901"), ("1", "20255501２3"), ("1", "+12025550123"),
    ("999", "12345678"),          # no such calling code
])
def test_impossible_numbers(path, country_code, phone_number):
    assert path(country_code, phone_number) is None


def test_with_the_pinned_phonenumbers_the_fast_path_is_chosen():
    assert national_numbers.fast_path_missing() is None
    assert e164_number is fast_e164_number


@pytest.mark.parametrize("name", national_numbers.PRIVATE)
def test_each_private_name_missing_is_noticed(name, monkeypatch):
    attribute = name.split(":")[1]
    monkeypatch.delattr(phonenumberutil, attribute)
    assert national_numbers.fast_path_missing() == f"phonenumbers.phonenumberutil.{attribute}"


def test_a_length_limit_changed_is_noticed(monkeypatch):
    monkeypatch.setattr(phonenumberutil, "_MAX_LENGTH_FOR_NSN", 18)
    assert "_MAX_LENGTH_FOR_NSN" in national_numbers.fast_path_missing()


def test_a_missing_name_falls_back_to_parse_with_one_warning(monkeypatch, caplog):
    monkeypatch.delattr(phonenumberutil, "_test_number_length")
    assert national_numbers.choose_e164_number() is library_e164_number
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "phonenumberutil._test_number_length" in warnings[0]


def test_every_private_name_the_fast_path_calls_is_checked():
    """A private function newly called by the fast path must be listed too."""
    source = Path(national_numbers.__file__).read_text()
    called = {f"phonenumbers.phonenumberutil:{name}"
              for name in re.findall(r"\bsteps\.(\w+)", source)}
    assert called and called <= set(national_numbers.PRIVATE), called - set(national_numbers.PRIVATE)
