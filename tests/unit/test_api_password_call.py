"""The password-call request validation, code, caller number and price: pure functions."""
from __future__ import annotations

import json
import re

import pytest

from api.password_call import (
    MAX_BODY,
    PasswordCallRequest,
    Refusal,
    bearer_token,
    call_price,
    caller_number,
    dialing_refusal,
    parse_body,
    pick_code,
)
from engine.settings import Settings

SEED = {"phone_number": "421222202004", "verification_code": "1234", "is_with_redirect": True}


def body(**changes) -> bytes:
    values = {**SEED, **changes}
    return json.dumps({k: v for k, v in values.items() if v is not ...}).encode()


def test_seed_example_parses():
    parsed = parse_body(body())
    assert parsed == PasswordCallRequest(phone_number="421222202004", e164="421222202004",
                                         country_code="421", verification_code="1234",
                                         is_with_redirect=True)


@pytest.mark.parametrize("changes, code, redirect", [
    ({"verification_code": ""}, None, True),
    ({"verification_code": None}, None, True),
    ({"verification_code": ...}, None, True),
    ({"verification_code": "0007"}, "0007", True),
    ({"is_with_redirect": False}, "1234", False),
    ({"is_with_redirect": ...}, "1234", False),
    ({"extra": {"ignored": [1, 2]}}, "1234", True),
])
def test_optional_fields(changes, code, redirect):
    parsed = parse_body(body(**changes))
    assert isinstance(parsed, PasswordCallRequest)
    assert (parsed.verification_code, parsed.is_with_redirect) == (code, redirect)


@pytest.mark.parametrize("phone_number, e164, country", [
    ("15551234567", "15551234567", "1"),
    ("447911123456", "447911123456", "44"),
    ("4402079460123", "442079460123", "44"),  # national 0 after the country code
    ("49301234567", "49301234567", "49"),
])
def test_e164_and_country_from_the_international_digits(phone_number, e164, country):
    parsed = parse_body(body(phone_number=phone_number))
    assert (parsed.phone_number, parsed.e164, parsed.country_code) == (phone_number, e164, country)


@pytest.mark.parametrize("raw, field", [
    (b"", "JSON"), (b"{", "JSON"), (b"not json", "JSON"), (b"\xff\xfe{}", "JSON"),
    (b"[" * 3000 + b"]" * 3000, "body"),  # too long before it is too deep
    (b"[" * 2000 + b"]" * 2000, "JSON"),  # nested past the parser's depth
    (b"[]", "object"), (b'"421222202004"', "object"), (b"null", "object"), (b"7", "object"),
    (b"{}", "phone_number"),
    (b" " * (MAX_BODY + 1), "body"),
])
def test_malformed_bodies(raw, field):
    refused = parse_body(raw)
    assert isinstance(refused, Refusal)
    assert refused.status == 400
    assert field in refused.error


@pytest.mark.parametrize("changes, field", [
    ({"phone_number": ...}, "phone_number"),
    ({"phone_number": None}, "phone_number"),
    ({"phone_number": 421222202004}, "phone_number"),
    ({"phone_number": ["421222202004"]}, "phone_number"),
    ({"phone_number": "+421222202004"}, "phone_number"),
    ({"phone_number": "421 222 202 004"}, "phone_number"),
    ({"phone_number": "٤٢١٢٢٢٢٠٢٠٠٤"}, "phone_number"),
    ({"phone_number": "4212222"}, "phone_number"),         # 7 digits
    ({"phone_number": "4" * 16}, "phone_number"),          # over 15
    ({"phone_number": "5" * 3000}, "phone_number"),
    ({"phone_number": "0421222202004"}, "phone_number"),   # no country code 0
    ({"phone_number": "999123456789"}, "phone_number"),    # unassigned country code 999
    ({"phone_number": "1555123456"}, "phone_number"),      # NANP one digit short
    ({"phone_number": "15551234"}, "phone_number"),        # local-only NANP
    ({"verification_code": "123"}, "verification_code"),
    ({"verification_code": "12345"}, "verification_code"),
    ({"verification_code": "12a4"}, "verification_code"),
    ({"verification_code": "١٢٣٤"}, "verification_code"),
    ({"verification_code": 1234}, "verification_code"),
    ({"verification_code": False}, "verification_code"),
    ({"verification_code": "1" * 2000}, "verification_code"),
    ({"is_with_redirect": "true"}, "is_with_redirect"),
    ({"is_with_redirect": 1}, "is_with_redirect"),
    ({"is_with_redirect": None}, "is_with_redirect"),
    ({"is_with_redirect": []}, "is_with_redirect"),
])
def test_wrong_fields_are_named(changes, field):
    refused = parse_body(body(**changes))
    assert isinstance(refused, Refusal), refused
    assert refused.status == 400
    assert field in refused.error


@pytest.mark.parametrize("header, token", [
    ("Bearer abc-DEF_123.~+/=", "abc-DEF_123.~+/="),
    ("bearer tok", "tok"),
    ("Bearer  tok ", "tok"),
    (None, None), ("", None), ("Bearer", None), ("Bearer ", None), ("tok", None),
    ("Basic dXNlcjpwYXNz", None), ("Bearer a b", None), ("Bearer " + "a" * 600, None),
    ("Bearer tök", None),
])
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def request_for(phone_number: str) -> PasswordCallRequest:
    parsed = parse_body(body(phone_number=phone_number))
    assert isinstance(parsed, PasswordCallRequest)
    return parsed


def test_dialing_refusals_follow_the_settings():
    settings = Settings(regions=("US", "SK"), blocked_prefixes=("1900", "42190"))
    assert dialing_refusal(request_for("421222202004"), settings) is None
    assert dialing_refusal(request_for("15551234567"), settings) is None
    assert dialing_refusal(request_for("447911123456"), settings) == Refusal(400, "country not supported")
    assert dialing_refusal(request_for("19005551234"), settings) == Refusal(400, "number not supported")
    assert dialing_refusal(request_for("421901234567"), settings) == Refusal(400, "number not supported")


def test_given_code_is_kept_and_a_missing_one_is_random_4_digits():
    assert pick_code("0042") == "0042"
    codes = {pick_code(None) for _ in range(2000)}
    assert all(re.fullmatch(r"[0-9]{4}", code) for code in codes)
    assert len(codes) > 1000  # random, not a constant or a short cycle
    assert any(code.startswith("0") for code in codes)  # zero-padded, not 1000-9999


def test_caller_number_is_the_prefix_then_the_code():
    assert caller_number(Settings(cli_prefix="4212222"), "0042") == "42122220042"


@pytest.mark.parametrize("prefix, price", [
    ("4212222", 83),       # Slovak caller number: the seed's 0.0083 EUR at scale 10000
    ("4420794", 120),      # listed country
    ("1555", 100),         # unlisted: the default price
    ("", 100),             # not a number at all
    ("99912", 100),        # unassigned country code
])
def test_price_by_caller_number_country(prefix, price):
    settings = Settings(password_call_prices={"421": 83, "44": 120},
                        password_call_default_price=100)
    assert call_price(caller_number(settings.replace(cli_prefix=prefix), "1234"), settings) == price


def test_default_settings_price_slovak_caller_at_the_seed_figure():
    settings = Settings()
    price = call_price(caller_number(settings, "1234"), settings)
    assert price / settings.money_scale == pytest.approx(0.0083)
