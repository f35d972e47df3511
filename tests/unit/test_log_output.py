"""The services' log output: a loop turn's lines in one write, in order;
warnings and lines outside a loop at once; the standard timestamp."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

from engine import log_output
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


@pytest.fixture
def configured(monkeypatch):
    """log_output.configure() as the services run it, its handler the root's only
    one (pytest's capture handlers set aside), its stream captured; the logging
    set-up before it restored after."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    for flag in ("logThreads", "logProcesses", "logMultiprocessing", "_srcfile"):
        monkeypatch.setattr(logging, flag, getattr(logging, flag))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(log_output, "_installed", None)
    monkeypatch.setattr(log_output, "_formatter", None)
    log_output.configure()
    handler = root.handlers[0]
    handler.stream = Stream()
    queued = []
    monkeypatch.setattr(handler, "queue", lambda line: (queued.append(line),
                                                         TurnBufferedHandler.queue(handler, line)))

    def only_ours():
        monkeypatch.setattr(root, "handlers", [handler])
        return handler.stream, queued
    return only_ours


async def test_info_writes_what_logger_info_writes(configured, monkeypatch):
    stream, queued = configured()
    created = 1764633335.0427
    monkeypatch.setattr(time, "time", lambda: created)
    log = logging.getLogger("api.reverse_verify")
    log.info("%s", "reverse_verify number=***4567 result=0 verification=abc")
    log_output.info(log, "reverse_verify number=***4567 result=0 verification=abc")
    await asyncio.sleep(0)
    standard, ours = stream.writes[0].splitlines(keepends=True)
    assert len(queued) == 1  # the second line took the short way
    assert ours == standard == (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        + ",042 INFO api.reverse_verify: reverse_verify number=***4567 result=0 verification=abc\n")


async def test_info_goes_through_logging_when_another_handler_listens(configured):
    stream, queued = configured()
    seen = []
    other = logging.Handler()
    other.emit = seen.append
    logging.getLogger().addHandler(other)
    try:
        log_output.info(logging.getLogger("api.reverse_verify"), "request line")
    finally:
        logging.getLogger().removeHandler(other)
    await asyncio.sleep(0)
    assert [r.getMessage() for r in seen] == ["request line"]
    assert queued == [] and len(stream.writes) == 1 and "request line" in stream.writes[0]


async def test_info_respects_the_loggers_level(configured):
    stream, _ = configured()
    log = logging.getLogger("test.quiet")
    log.setLevel(logging.WARNING)
    log_output.info(log, "not shown")
    await asyncio.sleep(0)
    assert stream.writes == []
