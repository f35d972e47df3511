"""The reverse-verify request validation: pure functions, no services."""
from __future__ import annotations

import pytest

from api.reverse_verify import ReturnCode, ReverseVerifyRequest, dialing_refusal, parse_request
from engine.masking import mask_number
from engine.settings import Settings

GOOD = {"api_key": "k" * 32, "phone_number": "5551234567", "country_code": "1",
        "code": "4345", "callback_url": "http://site.com/callback.php"}


def query(**changes) -> list[tuple[str, str]]:
    """The query's name, value pairs, as api.query.query_pairs gives them."""
    params = {**GOOD, **changes}
    return [(k, v) for k, v in params.items() if v is not None]


def test_good_request_parses_with_defaults():
    parsed = parse_request(query())
    assert isinstance(parsed, ReverseVerifyRequest)
    assert parsed.e164 == "15551234567"
    assert parsed.phone_number == "5551234567"
    assert parsed.code == "4345"
    assert parsed.secret == ""
    assert parsed.caller_id is None


def test_optional_parameters_are_kept():
    parsed = parse_request(query(secret="WeBuildThisCityOnRockAndRoll", caller_id="15559876543"))
    assert parsed.secret == "WeBuildThisCityOnRockAndRoll"
    assert parsed.caller_id == "15559876543"


@pytest.mark.parametrize("country_code, phone_number, e164", [
    ("1", "5551234567", "15551234567"),
    ("1", "15551234567", "15551234567"),   # NANP trunk prefix 1 given
    ("44", "07911123456", "447911123456"),  # UK leading national 0
    ("44", "7911123456", "447911123456"),
    ("44", "2079460123", "442079460123"),
    ("49", "301234567", "49301234567"),
])
def test_e164_is_country_code_plus_national_number(country_code, phone_number, e164):
    parsed = parse_request(query(country_code=country_code, phone_number=phone_number))
    assert isinstance(parsed, ReverseVerifyRequest)
    assert parsed.e164 == e164


@pytest.mark.parametrize("changes", [
    {"api_key": None}, {"phone_number": None}, {"country_code": None},
    {"code": None}, {"callback_url": None},
    {"api_key": ""}, {"phone_number": ""}, {"code": ""}, {"callback_url": ""},
    {"code": "1234567"}, {"code": "12a4"}, {"code": "-123"}, {"code": "١٢٣"}, {"code": "12 3"},
    {"phone_number": "555-210-4427"}, {"phone_number": "+15551234567"},
    {"phone_number": "555123"}, {"phone_number": "5551234"},  # too short / local only
    {"phone_number": "555123456789012"}, {"phone_number": "5" * 300},
    {"country_code": "1234"}, {"country_code": "+1"}, {"country_code": "01"},
    {"country_code": "999"}, {"country_code": "x"},
    {"country_code": "44", "phone_number": "0015551234567"},  # IDD switches country
    {"callback_url": "ftp://site.com/cb"}, {"callback_url": "site.com/cb"},
    {"callback_url": "http://"}, {"callback_url": "http:///path"},
    {"callback_url": "javascript:alert(1)"}, {"callback_url": "http://site.com:99999/"},
    {"callback_url": "http://site.com/a b"}, {"callback_url": "http://x.com/" + "a" * 3000},
    {"secret": "s" * 31},
    {"caller_id": "1" * 16}, {"caller_id": "+15551234567"}, {"caller_id": "abc"},
])
def test_malformed_requests_answer_4(changes):
    assert parse_request(query(**changes)) == ReturnCode.MALFORMED == 4


@pytest.mark.parametrize("name", ["api_key", "phone_number", "code", "secret", "caller_id"])
def test_repeated_parameter_answers_4(name):
    params = query(secret="abc", caller_id="123")
    params.append((name, dict(params)[name]))
    assert parse_request(params) == 4


def test_edge_lengths_are_accepted():
    assert isinstance(parse_request(query(code="1")), ReverseVerifyRequest)
    assert isinstance(parse_request(query(code="123456")), ReverseVerifyRequest)
    assert isinstance(parse_request(query(secret="s" * 30)), ReverseVerifyRequest)
    assert isinstance(parse_request(query(caller_id="1" * 15)), ReverseVerifyRequest)
    assert isinstance(parse_request(query(callback_url="https://h.example:8443/cb?x=1")),
                      ReverseVerifyRequest)


def test_unknown_parameters_are_ignored():
    params = query()
    params.append(("extra", "1"))
    assert isinstance(parse_request(params), ReverseVerifyRequest)


SETTINGS = Settings()


def refusal(country_code: str, phone_number: str, settings: Settings = SETTINGS):
    parsed = parse_request(query(country_code=country_code, phone_number=phone_number))
    assert isinstance(parsed, ReverseVerifyRequest)
    return dialing_refusal(parsed, settings)


@pytest.mark.parametrize("country_code, phone_number", [
    ("1", "9005551234"), ("1", "9765551234"), ("44", "9098790000"), ("44", "08712345678")])
def test_blocked_prefix_answers_7(country_code, phone_number):
    assert refusal(country_code, phone_number) == ReturnCode.AREA_NOT_SUPPORTED == 7


def test_blocked_prefixes_come_from_settings():
    settings = SETTINGS.replace(blocked_prefixes=("1555",))
    assert refusal("1", "5551234567", settings) == 7
    assert refusal("1", "2025550123", settings) is None
    assert refusal("1", "9765551234", settings) is None  # no longer blocked; not typed either


def test_region_not_in_settings_answers_8():
    assert refusal("49", "301234567") == ReturnCode.COUNTRY_NOT_SUPPORTED == 8
    assert refusal("49", "301234567", SETTINGS.replace(regions=("DE",))) is None
    assert refusal("1", "5551234567", SETTINGS.replace(regions=("GB",))) == 8


def test_dialable_numbers_pass_the_default_coverage():
    assert refusal("1", "5551234567") is None
    assert refusal("44", "07911123456") is None


@pytest.mark.parametrize("raw, shown", [
    ("15551234567", "***4567"), ("12", "***12"), ("", "?"), (None, "?"), ("555\n1234", "?")])
def test_numbers_are_masked_to_last_four_digits(raw, shown):
    assert mask_number(raw) == shown
