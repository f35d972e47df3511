"""api.number_lookup's fast path answers as its library path
(phonenumbers.region_code_for_number and number_type) does: on the example
number of every type of every region, on those numbers with their tails
changed, and on random digits of every calling code. The fast path is chosen
only while the phonenumbers names and metadata it reads are there."""
from __future__ import annotations

import logging
import random
from types import SimpleNamespace

import phonenumbers
import pytest
from phonenumbers.phonemetadata import PhoneMetadata

from api import number_lookup
from api.number_lookup import (
    destination,
    fast_destination,
    library_destination,
    phone_number,
)

NON_GEOGRAPHIC = "001"


def samples(calling_code: int, rng: random.Random) -> set[str]:
    """National significant numbers of this calling code: every region's
    example of every type, each with 20 random tails, and 200 random digits."""
    examples = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[calling_code]:
        for kind in phonenumbers.PhoneNumberType.values():
            number = (phonenumbers.example_number_for_non_geo_entity(calling_code)
                      if region == NON_GEOGRAPHIC else
                      phonenumbers.example_number_for_type(region, kind))
            if number is not None:
                examples.add(phonenumbers.national_significant_number(number))
    out = set(examples)
    for nsn in sorted(examples):  # a set's order changes with the hash seed; the draws must not
        for _ in range(20):
            keep = rng.randint(0, len(nsn))
            out.add(nsn[:keep] + "".join(rng.choice("0123456789") for _ in nsn[keep:]))
    for _ in range(200):
        out.add("".join(rng.choice("0123456789") for _ in range(rng.randint(2, 15))))
    return out


def test_every_calling_code_answers_as_phonenumbers_does():
    """Fails when a phonenumbers upgrade makes the two paths disagree."""
    rng = random.Random(17)
    checked = refused = unclaimed = 0
    wrong = []
    for calling_code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for nsn in sorted(samples(calling_code, rng)):
            expected = library_destination(calling_code, nsn)
            got = fast_destination(calling_code, nsn)
            checked += 1
            refused += expected[1]
            unclaimed += phonenumbers.region_code_for_number(phone_number(calling_code, nsn)) is None
            if got != expected:
                wrong.append((calling_code, nsn, expected, got))
    assert not wrong, wrong[:20]
    # The sample holds refused types and unclaimed numbers in quantity.
    assert checked > 50_000 and refused > 2_000 and unclaimed > 2_000, (checked, refused, unclaimed)


@pytest.mark.parametrize("calling_code, national", [
    (39, "0212345678"), (39, "00012345"), (1, "2025550123"), (225, "0123456789")])
def test_phone_number_keeps_the_national_significant_number(calling_code, national):
    assert phonenumbers.national_significant_number(phone_number(calling_code, national)) == national
    assert phonenumbers.parse(f"+{calling_code}{national}") == phone_number(calling_code, national)


@pytest.mark.parametrize("path", [fast_destination, library_destination], ids=["fast", "library"])
@pytest.mark.parametrize("calling_code, national, answer", [
    (1, "5551234567", ("US", False)),     # claimed by no NANP region: NANP's main one
    (1, "8762345678", ("JM", False)),     # found by leading digits
    (1, "6132345678", ("CA", False)),     # found by validation, after US
    (1, "9002345678", ("US", True)),
    (44, "8431234567", ("GB", True)),
    (44, "7012345678", ("GB", True)),
    (421, "976123456", ("SK", True)),
    (800, "12345678", (NON_GEOGRAPHIC, False)),
])
def test_known_numbers(path, calling_code, national, answer):
    assert path(calling_code, national) == answer


def test_with_the_pinned_phonenumbers_the_fast_path_is_chosen():
    assert number_lookup.fast_path_missing() is None
    assert destination is fast_destination


@pytest.mark.parametrize("name", number_lookup.NAMES)
def test_each_name_missing_is_noticed(name, monkeypatch):
    module_name, _, path = name.partition(":")
    owner = phonenumbers if module_name == "phonenumbers" else PhoneMetadata
    monkeypatch.delattr(owner, path.split(".")[-1])
    assert number_lookup.fast_path_missing() == name.replace(":", ".")


def us_metadata_without(monkeypatch, attribute: str, of_description: bool = False) -> None:
    """Make PhoneMetadata.metadata_for_region answer the US metadata less one
    attribute (of itself, or of its general description); the metadata is immutable."""
    us = PhoneMetadata.metadata_for_region("US")
    general = SimpleNamespace(**{name: getattr(us.general_desc, name)
                                 for name in number_lookup.DESCRIPTION_ATTRIBUTES
                                 if name != attribute or not of_description})
    stand_in = SimpleNamespace(**{name: getattr(us, name) for name in number_lookup.METADATA_ATTRIBUTES
                                  if name != attribute or of_description})
    stand_in.general_desc = general
    if attribute == "general_desc" and not of_description:
        del stand_in.general_desc
    monkeypatch.setattr(PhoneMetadata, "metadata_for_region",
                        staticmethod(lambda region, default=None: stand_in))


@pytest.mark.parametrize("attribute", number_lookup.METADATA_ATTRIBUTES)
def test_each_metadata_attribute_missing_is_noticed(attribute, monkeypatch):
    us_metadata_without(monkeypatch, attribute)
    assert number_lookup.fast_path_missing() == f"phonenumbers.phonemetadata.PhoneMetadata.{attribute}"


@pytest.mark.parametrize("attribute", number_lookup.DESCRIPTION_ATTRIBUTES)
def test_each_description_attribute_missing_is_noticed(attribute, monkeypatch):
    us_metadata_without(monkeypatch, attribute, of_description=True)
    assert number_lookup.fast_path_missing() == \
        f"phonenumbers.phonemetadata.PhoneNumberDesc.{attribute}"


def test_a_missing_name_falls_back_to_phonenumbers_with_one_warning(monkeypatch, caplog):
    monkeypatch.delattr(PhoneMetadata, "metadata_for_nongeo_region")
    assert number_lookup.choose_destination() is library_destination
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "metadata_for_nongeo_region" in warnings[0]


def test_prepare_compiles_the_served_regions_patterns_before_any_request():
    number_lookup._region_patterns.cache_clear()
    number_lookup._refused_patterns.cache_clear()
    number_lookup.prepare(("JM", "SK"))
    assert number_lookup._region_patterns.cache_info().currsize == 1      # +1's regions
    assert number_lookup._refused_patterns.cache_info().currsize == 2     # JM's and SK's types
    assert fast_destination(1, "8762345678") == ("JM", False)
    assert number_lookup._region_patterns.cache_info().misses == 1
