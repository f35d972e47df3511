"""The services' log output: one line a record on stderr, written once per
event-loop turn.

The API logs a line for every request. Through the standard StreamHandler
each line costs its own write and flush, and its own strftime. Here the
lines of one loop turn go out in one write at the end of that turn, and the
timestamp's text is built once a second. A warning or error, and any line
logged outside a running loop (start-up, the CLI), is written at once, after
the lines before it; `logging.shutdown` (at exit) writes what is left.

`info(logger, message)` is for the line logged on every request: while this
module's handler is the only output, it formats and queues the line itself,
the same text `logger.info` would give, without a LogRecord and the handler's
lock.

`configure` also sets `logging._srcfile`, a private name, to skip looking up
the caller of every record. If it is gone (a Python upgrade), the output is
the library's own instead: a StreamHandler with the same format, one warning.
tests/unit/test_log_output.py checks the two give the same lines.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time

from engine import log_redaction
from engine.seams import fall_back, missing

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SecondFormatter(logging.Formatter):
    """`logging.Formatter`'s asctime ("2026-12-01 23:55:35,120"), its
    strftime done once per second instead of once per record."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return f"{self._seconds(record.created)},{int(record.msecs):03d}"

    def asctime(self, created: float) -> str:
        """The asctime of a record created at `created` (its msecs as LogRecord's)."""
        return f"{self._seconds(created)},{int((created - int(created)) * 1000):03d}"

    def _seconds(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime(self.default_time_format, self.converter(created))
        return self._text


class TurnBufferedHandler(logging.Handler):
    """Lines logged in one event-loop turn reach the stream in one write."""

    lock: threading.RLock  # made by Handler.__init__ (typeshed: RLock | None)

    def __init__(self, stream=None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self.flush()
            else:
                self._flush_after_turn()
        except Exception:
            self.handleError(record)

    def queue(self, line: str) -> None:
        """A formatted INFO line (with its newline), written after this turn."""
        self._pending.append(line)
        self._flush_after_turn()

    def _flush_after_turn(self) -> None:
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop running here: write now
                self.flush()

    def flush(self) -> None:
        with self.lock:
            if not self._pending:
                return
            text, self._pending = "".join(self._pending), []
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:
                # As StreamHandler would: report it on stderr and go on serving.
                self.handleError(logging.makeLogRecord({"msg": text}))


_installed: TurnBufferedHandler | None = None  # configure()'s
_formatter: SecondFormatter | None = None  # its formatter, FORMAT


def info(logger: logging.Logger, message: str) -> None:
    """`logger.info(message)`, cheaper while configure()'s handler is the only
    place the line can go (no handler or filter on the way, none added since)."""
    handler = _installed
    if handler is None or not logger.isEnabledFor(logging.INFO) or not _only_to(handler, logger):
        logger.info("%s", message)
        return
    # _formatter is set with _installed, so not None here (no check on this path).
    handler.queue(f"{_formatter.asctime(time.time())} INFO {logger.name}: {message}\n")  # type: ignore[union-attr]


def _only_to(handler: TurnBufferedHandler, logger: logging.Logger) -> bool:
    node = logger
    while node is not logging.root:
        if node.handlers or node.filters or not node.propagate or node.parent is None:
            return False
        node = node.parent
    return (len(node.handlers) == 1 and node.handlers[0] is handler and not node.filters
            and not handler.filters and handler.level <= logging.INFO
            and handler.formatter is _formatter)


# The private name of logging that turn_buffered() sets.
PRIVATE = ("logging:_srcfile",)


def configure(stream=None) -> None:
    """Log INFO and up to `stream` (stderr), one line a record: turn-buffered
    while logging has the private name it sets, else through a StreamHandler
    (and one warning). Libraries' loggers get the redacting filter
    (engine/log_redaction.py). The lines name no thread, process or source line, so
    records skip collecting them (the logging HOWTO's "Optimization")."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    log_redaction.install()
    name = missing(PRIVATE)
    if name is None:
        turn_buffered(stream)
    else:
        plain(stream)
        fall_back("log output", name)


def turn_buffered(stream=None) -> None:
    """The fast path: TurnBufferedHandler, SecondFormatter, `info`'s short way."""
    logging._srcfile = None
    global _installed, _formatter
    handler, formatter = TurnBufferedHandler(stream), SecondFormatter()
    handler.setFormatter(formatter)
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    if logging.root.handlers == [handler]:  # basicConfig does nothing if set up already
        _installed, _formatter = handler, formatter


def plain(stream=None) -> None:
    """The library path: logging's StreamHandler and Formatter, FORMAT."""
    logging.basicConfig(level=logging.INFO, format=FORMAT,
                        stream=stream if stream is not None else sys.stderr)
