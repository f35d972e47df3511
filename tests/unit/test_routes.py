"""Where a number is dialled (engine/routes.py): a softphone's own endpoint,
the sandbox's test numbers' loop, or the trunk."""
from __future__ import annotations

import json

import pytest

from api.password_call import dialing_refusal as password_refusal
from api.password_call_request import PasswordCallRequest, parse_body
from api.reverse_verify import ReverseVerifyRequest, parse_request
from api.reverse_verify import dialing_refusal as reverse_refusal
from engine.routes import TEST_NUMBERS, dial_endpoint
from engine.settings import Settings, SettingsError, load_settings


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


def test_a_softphone_number_rings_its_devices_even_when_it_is_a_test_number():
    phones = frozenset({"12025550100", "421222202004"})
    assert dial_endpoint("421222202004", Settings(), phones) == \
        "Local/421222202004@callverify-phones/n"
    assert dial_endpoint("12025550100", Settings(), phones) == \
        "Local/12025550100@callverify-phones/n"
    assert dial_endpoint("12025550101", Settings(), phones) == "PJSIP/12025550101@testnumbers"


@pytest.mark.parametrize("number", sorted(TEST_NUMBERS))
def test_both_apis_take_the_test_numbers_as_they_are(number):
    """The test numbers pass the APIs' number checks (phonenumbers validity and
    region, the toll-fraud guard) with no exception for them: 202 555 01xx is a
    valid US number, and stays dialable with test numbers off."""
    settings = Settings()
    reverse = parse_request([("api_key", "k" * 32), ("country_code", "1"),
                             ("phone_number", number[1:]), ("code", "1234"),
                             ("callback_url", "http://site.example/cb")])
    assert isinstance(reverse, ReverseVerifyRequest) and reverse.e164 == number
    assert reverse_refusal(reverse, settings) is None
    password = parse_body(json.dumps({"phone_number": number}).encode())
    assert isinstance(password, PasswordCallRequest) and password.e164 == number
    assert password_refusal(password, settings) is None


@pytest.mark.parametrize("raw,on", [("0", False), ("off", False), ("1", True), ("yes", True)])
def test_callverify_test_numbers_turns_them_on_and_off(raw, on):
    settings = load_settings(env={"CALLVERIFY_TEST_NUMBERS": raw}, ari_password="x",
                             redis_url="redis://127.0.0.1:1/0")
    assert settings.test_numbers is on
    assert dial_endpoint("12025550100", settings).endswith("@testnumbers") is on


def test_a_bad_callverify_test_numbers_is_named():
    with pytest.raises(SettingsError, match="CALLVERIFY_TEST_NUMBERS=maybe: must be 1 or 0"):
        load_settings(env={"CALLVERIFY_TEST_NUMBERS": "maybe"}, ari_password="x",
                      redis_url="redis://127.0.0.1:1/0")
