"""The services' log output: one line a record on stderr, written once per
event-loop turn.

The API logs a line for every request. Through the standard StreamHandler
each line costs its own write and flush, and its own strftime. Here the
lines of one loop turn go out in one write at the end of that turn, and the
timestamp's text is built once a second. A warning or error, and any line
logged outside a running loop (start-up, the CLI), is written at once, after
the lines before it; `logging.shutdown` (at exit) writes what is left.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SecondFormatter(logging.Formatter):
    """`logging.Formatter`'s asctime ("2026-12-01 23:55:35,120"), its
    strftime done once per second instead of once per record."""

    def __init__(self, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self._second = -1
        self._text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._text = time.strftime(self.default_time_format, self.converter(record.created))
        return f"{self._text},{int(record.msecs):03d}"


class TurnBufferedHandler(logging.Handler):
    """Lines logged in one event-loop turn reach the stream in one write."""

    def __init__(self, stream=None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self._pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record) + "\n")
            if record.levelno >= logging.WARNING:
                self.flush()
            elif len(self._pending) == 1:
                try:
                    asyncio.get_running_loop().call_soon(self.flush)
                except RuntimeError:  # no loop running here: write now
                    self.flush()
        except Exception:
            self.handleError(record)

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


def configure() -> None:
    """Log INFO and up to stderr, one line a record, turn-buffered. The lines
    name no thread, process or source line, so records skip collecting them
    (the logging HOWTO's "Optimization")."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    handler = TurnBufferedHandler()
    handler.setFormatter(SecondFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
