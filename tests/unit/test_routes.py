"""Where a number is dialled (engine/routes.py): a softphone's own endpoint,
the sandbox's test numbers' loop, or the trunk."""
from __future__ import annotations

import pytest

from engine.routes import TEST_NUMBERS, dial_endpoint
from engine.settings import Settings


def test_the_nine_test_numbers():
    assert sorted(TEST_NUMBERS) == [f"1202555010{last}" for last in range(9)]


@pytest.mark.parametrize("number", sorted(TEST_NUMBERS))
def test_a_test_number_goes_to_the_loop_when_on(number):
    assert dial_endpoint(number, Settings()) == f"PJSIP/{number}@testnumbers"


def test_a_test_number_goes_to_the_trunk_when_off():
    settings = Settings(test_numbers=False, trunk_endpoint="carrier")
    assert dial_endpoint("12025550100", settings) == "PJSIP/12025550100@carrier"


@pytest.mark.parametrize("number", ["12025550099", "12025550109", "12025550110",
                                    "2025550100", "442025550100", "15551230001"])
def test_other_numbers_go_to_the_trunk(number):
    assert dial_endpoint(number, Settings(trunk_endpoint="carrier")) == f"PJSIP/{number}@carrier"


def test_a_softphone_number_rings_its_own_endpoint_even_when_it_is_a_test_number():
    phones = frozenset({"12025550100", "421222202004"})
    assert dial_endpoint("421222202004", Settings(), phones) == "PJSIP/421222202004"
    assert dial_endpoint("12025550100", Settings(), phones) == "PJSIP/12025550100"
    assert dial_endpoint("12025550101", Settings(), phones) == "PJSIP/12025550101@testnumbers"
