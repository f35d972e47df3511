"""The services' log output: a loop turn's lines in one write, in order;
warnings and lines outside a loop at once; the standard timestamp."""
from __future__ import annotations

import asyncio
import logging

from engine.log_output import FORMAT, SecondFormatter, TurnBufferedHandler


class Stream:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def logger_to(stream: Stream, name: str) -> tuple[logging.Logger, TurnBufferedHandler]:
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(name)
    log.handlers, log.propagate = [handler], False
    log.setLevel(logging.INFO)
    return log, handler


async def test_a_turns_lines_reach_the_stream_in_one_write_after_the_turn():
    stream = Stream()
    log, _ = logger_to(stream, "test.turn")
    for i in range(3):
        log.info("request %d", i)
    assert stream.writes == []
    await asyncio.sleep(0)
    assert stream.writes == ["INFO request 0\nINFO request 1\nINFO request 2\n"]
    log.info("next turn")
    await asyncio.sleep(0)
    assert stream.writes[1:] == ["INFO next turn\n"]


async def test_a_warning_is_written_at_once_after_the_lines_before_it():
    stream = Stream()
    log, _ = logger_to(stream, "test.warning")
    log.info("first")
    log.warning("redis unavailable")
    assert stream.writes == ["INFO first\nWARNING redis unavailable\n"]
    await asyncio.sleep(0)
    assert len(stream.writes) == 1


def test_outside_a_loop_each_line_is_written_at_once():
    stream = Stream()
    log, _ = logger_to(stream, "test.sync")
    log.info("starting")
    assert stream.writes == ["INFO starting\n"]


async def test_flush_writes_what_is_pending_as_logging_shutdown_does():
    stream = Stream()
    log, handler = logger_to(stream, "test.shutdown")
    log.info("last words")
    handler.flush()
    assert stream.writes == ["INFO last words\n"]


def test_the_timestamp_is_the_standard_asctime_across_seconds():
    ours, standard = SecondFormatter(), logging.Formatter(FORMAT)
    for created in (1764633335.120, 1764633335.999, 1764633336.0, 1764633336.5, 1764633400.25):
        record = logging.makeLogRecord({"msg": "m", "levelname": "INFO", "name": "x",
                                        "created": created, "msecs": (created % 1) * 1000})
        assert ours.format(record) == standard.format(record)
