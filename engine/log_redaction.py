"""Keep secrets out of the lines other libraries log.

callverify's own lines name verifications, accounts and masked numbers only.
aiohttp's do not: a malformed request makes its server log the raw request
line or header (`api_key=…`, `code=…`, `Authorization: Bearer …`, full
numbers), and client errors quote the URL they failed on (with a callback's
`secret`). `Redactor` is a logging filter installed on those libraries'
loggers (`install`): it renders each record (message, arguments, traceback),
then rewrites the text so that

- a URL's query, and a bare request target's, is cut (`/path?…`);
- `Authorization`/`Cookie` header values, and `Bearer`/`Basic` credentials,
  are replaced;
- values of sensitive names (api_key, code, secret, token, password, ...) are
  replaced, in `name=value`, `name: value` and JSON `"name": "value"` forms;
- any other run of five or more digits keeps only its last four.

A request aiohttp's parser refused (a scanner's garbage, a malformed header)
becomes one INFO line naming the client and the parser's reason, instead of
an ERROR with a traceback quoting the bytes received.
"""
from __future__ import annotations

import logging
import re

from aiohttp.http_exceptions import HttpProcessingError

# The loggers of libraries that may quote what a client sent.
LOGGERS = ("aiohttp.access", "aiohttp.client", "aiohttp.internal", "aiohttp.server",
           "aiohttp.web", "aiohttp.websocket", "asyncio")

SENSITIVE = r"api_?key|code|verification_code|secret|token|password|passwd|pin|key|auth"
QUERY = re.compile(r"(?<=[^\s'\"?])\?[^\s'\"<>]+")
HEADER = re.compile(r"(?im)\b(authorization|proxy-authorization|cookie|set-cookie)(\s*[:=]\s*)[^\r\n'\"]*")
CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")
NAMED = re.compile(rf"(?i)\b({SENSITIVE})((?:\"|')?[ \t]*[=:][ \t]*(?:\"|')?)[^&\s'\",;}}]*")
LONG_DIGITS = re.compile(r"\d{5,}")
USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"]*@")


def redact(text: str) -> str:
    """`text` with queries cut and credentials, secrets and long numbers masked."""
    text = USERINFO.sub(r"\1***@", text)
    text = QUERY.sub("?…", text)
    text = HEADER.sub(r"\1\2***", text)
    text = CREDENTIALS.sub(r"\1\2***", text)
    text = NAMED.sub(r"\1\2***", text)
    return LONG_DIGITS.sub(lambda m: "***" + m.group()[-4:], text)


class Redactor(logging.Filter):
    """Rewrites each record it sees into one redacted message, traceback included."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            reason = next((line.strip().rstrip(":") for line in error.message.splitlines()
                           if line.strip()), "").split(": b'")[0]  # not the bytes it quotes
            text = f"{text}: {type(error).__name__} ({error.code}) {reason}"
            record.levelno, record.levelname = logging.INFO, "INFO"
        elif record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + record.stack_info
        record.msg, record.args = redact(text), None
        record.exc_info = record.exc_text = record.stack_info = None
        return True


_REDACTOR = Redactor()


def install() -> None:
    """Put the redactor on every logger in LOGGERS (once)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
