"""The caller-ID rules (engine/caller_ids.py): what may never be shown."""
from __future__ import annotations

import pytest
from phonenumbers import PhoneMetadata, shortnumberinfo

from engine.caller_ids import (
    MIN_DIGITS,
    caller_id_problem,
    emergency_regions,
    longest_emergency_number,
    needs_listing,
    shown_caller_id,
)

DEFAULT = "0000000000"


@pytest.mark.parametrize("digits", ["911", "112", "999", "000", "110", "15", "9110", "1120"])
def test_emergency_numbers_of_any_region(digits):
    assert caller_id_problem(digits) == "is an emergency number"


def test_emergency_regions_are_looked_up_everywhere():
    assert {"US", "CA"} <= set(emergency_regions("911"))
    assert {"GB", "DE", "SK"} <= set(emergency_regions("112"))
    assert "GB" in emergency_regions("999") and "AU" in emergency_regions("000")


@pytest.mark.parametrize("digits", ["1", "12", "8000", "80001", "234567"])
def test_short_numbers(digits):
    assert caller_id_problem(digits).startswith("is a short number")


def test_no_emergency_number_is_as_long_as_a_caller_id():
    # The reason full numbers skip the region-by-region look-up.
    assert longest_emergency_number() < MIN_DIGITS
    for region in shortnumberinfo.SUPPORTED_SHORT_REGIONS:
        metadata = PhoneMetadata.short_metadata_for_region(region)
        if metadata.emergency is not None:
            assert max(metadata.emergency.possible_length) <= longest_emergency_number()


@pytest.mark.parametrize("digits", [
    "15559876543",     # NANP 555: possible, as in the seed's examples
    "14155550100",     # US geographic
    "18004321000",     # US toll-free: allowed (calling it back is free)
    "447911123456",    # UK mobile
    "421222202004",    # Slovak geographic
])
def test_full_numbers_are_allowed(digits):
    assert caller_id_problem(digits) is None


@pytest.mark.parametrize("digits, kind", [
    ("19005551234", "premium-rate"),
    ("421900123456", "premium-rate"),
    ("447011123456", "personal"),
])
def test_numbers_whose_call_back_pays_their_holder(digits, kind):
    assert kind in caller_id_problem(digits)


@pytest.mark.parametrize("digits", ["4155550100", "0000000000", "1" * 15, "99912345678"])
def test_what_is_no_possible_international_number(digits):
    assert caller_id_problem(digits).startswith("is not a possible international number")


@pytest.mark.parametrize("digits", ["", "+15559876543", "1555 9876543", "1" * 16, "١٢٣٤٥٦٧٨"])
def test_what_is_not_digits(digits):
    assert caller_id_problem(digits) == "must be 1-15 digits, country code first"


def test_no_problem_text_names_the_number():
    for digits in ("911", "123456", "4155550100", "19005551234", "x"):
        assert digits not in caller_id_problem(digits)


def test_the_default_needs_no_listing_and_is_always_shown():
    assert not needs_listing(None, DEFAULT) and not needs_listing("", DEFAULT)
    assert not needs_listing(DEFAULT, DEFAULT)
    assert needs_listing("15559876543", DEFAULT)
    assert shown_caller_id(DEFAULT, DEFAULT) == DEFAULT
    assert shown_caller_id("", DEFAULT) == DEFAULT


@pytest.mark.parametrize("stored", ["911", "112", "123", "19005551234"])
def test_a_stored_caller_id_the_rules_refuse_is_never_shown(stored):
    assert shown_caller_id(stored, DEFAULT) == DEFAULT


def test_an_allowed_caller_id_is_shown():
    assert shown_caller_id("15559876543", DEFAULT) == "15559876543"
