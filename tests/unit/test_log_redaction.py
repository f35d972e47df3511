"""The redacting filter on libraries' loggers (engine/log_redaction.py)."""
from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadStatusLine

from engine.log_redaction import Redactor, redact


@pytest.mark.parametrize("text, secret", [
    ("b'GET /api/reverse_verify/?api_key=K9f3a&code=907312 HTTP/9.9'", "K9f3a"),
    ("b'GET /api/reverse_verify/?api_key=K9f3a&code=907312 HTTP/9.9'", "907312"),
    ("Authorization: Bearer tok-EN_123.abc", "tok-EN_123.abc"),
    ("authorization=Basic dXNlcjpwdw==", "dXNlcjpwdw=="),
    ('{"phone_number": "421905123456", "verification_code": "4321"}', "4321"),
    ('{"phone_number": "421905123456", "verification_code": "4321"}', "421905123456"),
    ("Cannot connect to http://h.example/cb?secret=s3cr3t&match=1", "s3cr3t"),
    ("http://user:pw0rd@h.example/cb", "pw0rd"),
    ("code: 864219 secret=abc", "864219"),
    ("token=abcdef", "abcdef"),
])
def test_secrets_and_full_numbers_are_masked(text, secret):
    assert secret not in redact(text)


def test_what_is_no_secret_stays_readable():
    assert redact("Error handling request from 127.0.0.1") == "Error handling request from 127.0.0.1"
    assert redact("number 12025550147 done") == "number ***0147 done"
    assert redact("GET /api/reverse_verify/?api_key=k HTTP/1.1") == "GET /api/reverse_verify/?… HTTP/1.1"


def record(message: str, *args, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, message, args, exc_info)


def test_a_parser_refusal_is_one_info_line_without_the_bytes():
    error = BadStatusLine("GET /?api_key=Kx&code=907312 HTTP/9.9")
    try:
        raise error
    except BadStatusLine:
        seen = record("Error handling request from %s", "127.0.0.1", exc=error)
    assert Redactor().filter(seen)
    assert seen.levelno == logging.INFO and seen.exc_info is None
    line = logging.Formatter().format(seen)
    assert line.startswith("Error handling request from 127.0.0.1: BadStatusLine (400)")
    assert "907312" not in line and "Kx" not in line and "\n" not in line


def test_a_traceback_is_redacted_too():
    try:
        raise ValueError("bad url http://h/cb?secret=zz9 for 447700900123")
    except ValueError as exc:
        seen = record("failed %s", "x", exc=exc)
    Redactor().filter(seen)
    line = logging.Formatter().format(seen)
    assert "Traceback" in line and "zz9" not in line and "447700900123" not in line
