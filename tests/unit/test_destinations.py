"""The toll-fraud guard (api/destinations.py) as each API answers it: refused
by region (reverse verify 8, password call 400 "country not supported"), by
number type or blocked prefix (7 / 400 "number not supported"), and the price
of a reverse-verify call by prefix, then region, then the flat price."""
from __future__ import annotations

import pytest

from api import password_call, reverse_verify
from api.destinations import NUMBER_TYPE, PREFIX, REGION, call_price, refusal
from api.number_lookup import destination
from engine.settings import Settings

DEFAULTS = Settings()

# (calling code, national number): the numbers and their neighbours.
OTHER_REGION = [
    ("1", "8762345678"),     # Jamaica, +1 876
    ("1", "8092345678"),     # Dominican Republic, +1 809
    ("1", "4734401234"),     # Grenada, +1 473
    ("1", "2684601234"),     # Antigua and Barbuda, +1 268
    ("49", "301234567"),     # Germany
    ("800", "12345678"),     # an international freephone: no ISO region at all
]
REFUSED_TYPE = [
    ("44", "8431234567"),    # UK 0843: premium rate per phonenumbers
    ("44", "9012345678"),    # UK 09: premium rate
    ("44", "7012345678"),    # UK 070: personal number
    ("44", "5512345678"),    # UK 055: UAN
    ("421", "900123456"),    # Slovakia 0900: premium rate
    ("421", "976123456"),    # Slovakia 0976: premium rate
    ("421", "850123456"),    # Slovakia 0850: shared cost
    ("421", "961234567"),    # Slovakia 096: UAN
    ("1", "9002345678"),     # NANP 900 (also a default blocked prefix)
    ("1", "5002345678"),     # NANP 500: personal number
]
ALLOWED = [
    ("1", "2025550123", "US"),     # the seed's example
    ("1", "5551234567", "US"),     # no region: NANP's main region
    ("1", "6132345678", "CA"),     # Ottawa
    ("1", "8002345678", "US"),     # toll free is not refused
    ("44", "7700900123", "GB"),    # a GB mobile (Ofcom's drama range: no region, GB)
    ("44", "7400123456", "GB"),
    ("44", "7911123456", "GG"),    # Guernsey
    ("44", "1534456789", "JE"),    # Jersey
    ("44", "1624756789", "IM"),    # Isle of Man
    ("421", "905123456", "SK"),    # a Slovak mobile
    ("421", "222202004", "SK"),    # the password call seed's number
]


def reverse_verify_answer(country_code: str, national: str, settings: Settings = DEFAULTS):
    parsed = reverse_verify.parse_request([
        ("api_key", "k"), ("phone_number", national), ("country_code", country_code),
        ("code", "1234"), ("callback_url", "http://site.example/cb")])
    assert isinstance(parsed, reverse_verify.ReverseVerifyRequest), (country_code, national)
    return reverse_verify.dialing_refusal(parsed, settings)


def password_call_answer(country_code: str, national: str, settings: Settings = DEFAULTS):
    parsed = password_call.parse_body(
        f'{{"phone_number": "{country_code}{national}"}}'.encode())
    assert isinstance(parsed, password_call.PasswordCallRequest), (country_code, national)
    return password_call.dialing_refusal(parsed, settings)


@pytest.mark.parametrize("country_code, national", OTHER_REGION)
def test_a_region_not_listed_is_8_and_country_not_supported(country_code, national):
    assert refusal(country_code, country_code + national, DEFAULTS) == REGION
    assert reverse_verify_answer(country_code, national) == 8
    assert password_call_answer(country_code, national) == password_call.Refusal(
        400, "country not supported")


@pytest.mark.parametrize("country_code, national", REFUSED_TYPE)
def test_a_refused_number_type_is_7_and_number_not_supported(country_code, national):
    no_blocked_prefixes = DEFAULTS.replace(blocked_prefixes=())
    assert refusal(country_code, country_code + national, no_blocked_prefixes) == NUMBER_TYPE
    assert reverse_verify_answer(country_code, national, no_blocked_prefixes) == 7
    assert password_call_answer(country_code, national, no_blocked_prefixes) == \
        password_call.Refusal(400, "number not supported")


@pytest.mark.parametrize("country_code, national, region", ALLOWED)
def test_listed_regions_are_dialled(country_code, national, region):
    assert destination(int(country_code), national) == (region, False)
    assert reverse_verify_answer(country_code, national) is None
    assert password_call_answer(country_code, national) is None


def test_voicemail_access_is_refused_where_its_region_is_allowed():
    settings = DEFAULTS.replace(regions=("DE",))
    assert refusal("49", "49177991234567", settings) == NUMBER_TYPE   # DE voicemail
    assert refusal("49", "49301234567", settings) is None


def test_a_number_without_region_counts_as_its_calling_codes_main_region():
    assert destination(1, "5551234567") == ("US", False)
    assert destination(44, "7700900123") == ("GB", False)
    assert refusal("1", "15551234567", DEFAULTS.replace(regions=("CA",))) == REGION
    assert refusal("1", "15551234567", DEFAULTS.replace(regions=("US",))) is None


def test_the_region_list_follows_the_setting():
    jamaica = DEFAULTS.replace(regions=("JM",))
    assert reverse_verify_answer("1", "8762345678", jamaica) is None
    assert reverse_verify_answer("1", "2025550123", jamaica) == 8
    assert reverse_verify_answer("421", "905123456", jamaica) == 8


def test_region_is_decided_before_type():
    """8 before 7: a premium number of a region not served is a region refusal."""
    assert refusal("1", "18769001234", DEFAULTS) == REGION
    assert reverse_verify_answer("49", "9001234567") == 8


def test_blocked_prefixes_refuse_ranges_of_a_served_region():
    settings = DEFAULTS.replace(blocked_prefixes=("4420794",))
    assert refusal("44", "442079460123", settings) == PREFIX
    assert reverse_verify_answer("44", "2079460123", settings) == 7
    assert password_call_answer("44", "2079460123", settings) == password_call.Refusal(
        400, "number not supported")
    assert refusal("44", "442079460123", DEFAULTS) is None


PRICES = DEFAULTS.replace(call_price=1, call_prices={"GB": 2, "44207": 5, "4420794": 7,
                                                       "1876": 50, "US": 3})


@pytest.mark.parametrize("country_code, e164, price", [
    ("44", "442079460123", 7),   # the longest prefix wins
    ("44", "442071234567", 5),   # a shorter prefix beats the region
    ("44", "447400123456", 2),   # the region
    ("44", "447700900123", 2),   # no region of its own: GB, its calling code's main region
    ("44", "447911123456", 1),   # Guernsey: not listed, the flat price
    ("1", "18762345678", 50),    # a prefix of a region not listed
    ("1", "15551234567", 3),     # US by fallback
    ("421", "421905123456", 1),  # nothing listed: the flat price
])
def test_price_by_prefix_then_region_then_the_flat_price(country_code, e164, price):
    assert call_price(country_code, e164, PRICES) == price


def test_without_call_prices_every_call_costs_call_price():
    assert call_price("44", "447400123456", DEFAULTS.replace(call_price=4)) == 4
