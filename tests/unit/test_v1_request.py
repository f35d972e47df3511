"""The /v1 request's pure parts: the create body, the Idempotency-Key, the
list query and its cursor."""
from __future__ import annotations

import json

import pytest

from api.v1_list_query import ListQuery, cursor, moment, parse_query, position
from api.v1_request import (
    MAX_BODY,
    Malformed,
    V1Request,
    idempotency_key,
    parse_body,
    pick_code,
)
from engine.settings import Settings, SettingsError
from engine.v1_lists import Position


def parsed(**body) -> V1Request | Malformed:
    return parse_body(json.dumps(body).encode())


def test_a_keypad_request():
    request = parsed(phone="+442079460123", channel="keypad", code="0012", locale="es",
                     callback_url="https://site.example/cb", caller_id="+15551239999")
    assert isinstance(request, V1Request)
    assert (request.e164, request.country_code, request.national_number) == (
        "442079460123", "44", "2079460123")
    assert (request.code, request.locale, request.caller_id) == ("0012", "es", "15551239999")


def test_defaults_and_nulls():
    request = parsed(phone="+15551234567", channel="voice", code=None, locale=None)
    assert isinstance(request, V1Request)
    assert (request.code, request.locale, request.callback_url, request.caller_id) == (
        None, "en", "", None)


@pytest.mark.parametrize("body,field", [
    ({"phone": "+15551234567", "channel": "keypad", "extra": 1}, "extra"),
    ({"channel": "keypad"}, "phone"),
    ({"phone": "+0123456789", "channel": "keypad"}, "phone"),
    ({"phone": "+1555", "channel": "keypad"}, "phone"),
    ({"phone": "+15551234567"}, "channel"),
    ({"phone": "+15551234567", "channel": "KEYPAD"}, "channel"),
    ({"phone": "+15551234567", "channel": "voice", "code": "１２３４"}, "code"),  # not ASCII
    ({"phone": "+15551234567", "channel": "voice", "code": "12345678901"}, "code"),
    ({"phone": "+15551234567", "channel": "caller_id", "code": "123"}, "code"),
    ({"phone": "+15551234567", "channel": "keypad", "locale": "EN"}, "locale"),
    ({"phone": "+15551234567", "channel": "keypad", "callback_url": 5}, "callback_url"),
    ({"phone": "+15551234567", "channel": "keypad", "callback_url": "http://u:p@x.example/"},
     "callback_url"),
    ({"phone": "+15551234567", "channel": "keypad", "caller_id": 15551239999}, "caller_id"),
    ({"phone": "+15551234567", "channel": "caller_id", "caller_id": "15551239999"}, "caller_id"),
])
def test_the_first_wrong_field_is_named(body, field):
    answer = parse_body(json.dumps(body).encode())
    assert isinstance(answer, Malformed) and answer.field == field


@pytest.mark.parametrize("raw", [b"", b"nul", b"\xff", b"[]", b'"x"', b"[" * 100_000,
                                 b" " * (MAX_BODY + 1)])
def test_a_body_that_is_no_object(raw):
    answer = parse_body(raw)
    assert isinstance(answer, Malformed) and answer.field == "body"


def test_a_callback_to_a_private_address_only_when_allowed():
    body = json.dumps({"phone": "+15551234567", "channel": "keypad",
                       "callback_url": "http://10.1.2.3/cb"}).encode()
    assert isinstance(parse_body(body), Malformed)
    assert isinstance(parse_body(body, ("10.0.0.0/8",)), V1Request)


def test_the_fingerprint_ignores_order_spacing_and_nulls_only():
    one = parse_body(b'{"phone": "+15551234567", "channel": "voice"}')
    two = parse_body(b'{"channel":"voice","phone":"+15551234567","code":null}')
    three = parse_body(b'{"channel":"voice","phone":"+15551234567","locale":"en"}')
    assert isinstance(one, V1Request) and isinstance(two, V1Request)
    assert isinstance(three, V1Request)
    assert one.fingerprint == two.fingerprint != three.fingerprint


def test_idempotency_key():
    assert idempotency_key(None) is None
    assert idempotency_key("order-17/a") == "order-17/a"
    for bad in ("", "a b", "x" * 256, "é"):
        assert isinstance(idempotency_key(bad), Malformed)


@pytest.mark.parametrize("channel,digits", [("keypad", 6), ("voice", 6), ("caller_id", 4)])
def test_generated_codes(channel, digits):
    request = parsed(phone="+15551234567", channel=channel)
    assert isinstance(request, V1Request)
    codes = {pick_code(request) for _ in range(50)}
    assert all(len(code) == digits and code.isdigit() for code in codes) and len(codes) > 1
    given = parsed(phone="+15551234567", channel=channel, code="0042")
    assert isinstance(given, V1Request) and pick_code(given) == "0042"


def test_the_list_query():
    assert parse_query([]) == ListQuery()
    query = parse_query([("phone", " 15551234567"), ("limit", "100"),
                         ("since", "2026-01-31T12:00:00Z")])
    assert query == ListQuery(e164="15551234567", limit=100, since=1769860800.0)
    assert parse_query([("phone", "15551234567")]) == ListQuery(e164="15551234567")


@pytest.mark.parametrize("pairs,field", [
    ([("limit", "0")], "limit"), ([("limit", "1"), ("limit", "2")], "limit"),
    ([("limit", "٣")], "limit"), ([("since", "")], "since"), ([("since", "1e9")], "since"),
    ([("cursor", "")], "cursor"), ([("phone", "+")], "phone"), ([("page", "2")], "page")])
def test_bad_list_parameters(pairs, field):
    answer = parse_query(pairs)
    assert isinstance(answer, Malformed) and answer.field == field


def test_since_as_iso_or_unix_seconds():
    assert moment("1769860800") == moment("2026-01-31T12:00:00Z") == moment("2026-01-31T12:00")
    assert moment("2026-01-31T13:00:00+01:00") == 1769860800.0
    assert moment("1769860800.1234") == 1769860800.123
    assert moment("soon") is None


def test_the_cursor_is_opaque_and_round_trips():
    after = Position(1769860800.123, "0123456789ab")
    text = cursor(after)
    assert "0123456789ab" not in text and position(text) == after
    for bad in ("", "!!", cursor(Position(1.0, "x")), "WzEsMl0", "bnVsbA"):
        assert position(bad) is None


def test_the_check_settings():
    assert (Settings().check_window_seconds, Settings().max_checks) == (600, 5)
    for bad in ({"max_checks": 0}, {"check_window_seconds": 0}, {"check_window_seconds": 1.5}):
        with pytest.raises(SettingsError, match="CALLVERIFY_(MAX_CHECKS|CHECK_WINDOW_SECONDS)"):
            Settings(**bad)
