"""The services' log output: a loop turn's lines in one write, in order;
warnings and lines outside a loop at once; the standard timestamp; the same
lines as logging's own StreamHandler, which takes over (with one warning)
when the private name of logging it sets is gone."""
from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

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
def set_aside(monkeypatch):
    """The logging set-up set aside for log_output's, and restored after.
    Returns `fresh()`: no handler on the root (pytest adds its capture
    handlers once the test runs), none installed, for the next configuration."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    for flag in ("logThreads", "logProcesses", "logMultiprocessing", "_srcfile"):
        monkeypatch.setattr(logging, flag, getattr(logging, flag))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(log_output, "_installed", None)
    monkeypatch.setattr(log_output, "_formatter", None)

    def fresh():
        root.handlers = []
        log_output._installed = log_output._formatter = None
    return fresh


@pytest.fixture
def configured(set_aside, monkeypatch):
    """log_output.configure() as the services run it, its handler the root's only
    one, its stream captured."""
    root = logging.getLogger()
    log_output.configure(Stream())
    handler = root.handlers[0]
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


# Records of every shape the services log: levels, logger names, arguments,
# non-ASCII and multi-line text, an exception, times across seconds.
RECORDS = [
    (1764633335.0427, logging.INFO, "api.reverse_verify", "reverse_verify result=%d", (0,)),
    (1764633335.999, logging.INFO, "engine.worker", "call %s answered", ("abc",)),
    (1764633336.0, logging.WARNING, "engine.ari.client", "ARI events not connected", ()),
    (1764633336.5004, logging.ERROR, "engine.delivery", "callback to %s: %s", ("site", "é ü €")),
    (1764633336.7771, logging.INFO, "api.app", "two\nlines", ()),
    (1764633400.25, logging.ERROR, "api.service", "failed", "exc"),
    (1764633400.001, logging.DEBUG, "engine.worker", "not shown", ()),
    (1764633401.0, logging.CRITICAL, "root", "%(name)s is not a format here", ()),
]


def log_records(monkeypatch) -> None:
    """RECORDS through their loggers, each made at its time as a LogRecord would be."""
    for created, level, name, message, args in RECORDS:
        monkeypatch.setattr(time, "time", lambda created=created: created)
        monkeypatch.setattr(time, "time_ns", lambda created=created: int(created * 1e9))
        log = logging.getLogger(name)
        if args == "exc":
            try:
                raise ValueError("boom")
            except ValueError:
                log.exception(message)
        else:
            log.log(level, message, *args)
        log_output.info(logging.getLogger(name), f"info {message}")


async def test_the_fast_path_writes_the_lines_the_library_path_writes(set_aside, monkeypatch):
    """Fails when a Python upgrade makes logging's own output differ from ours."""
    real_time, real_time_ns = time.time, time.time_ns
    outputs = []
    for configure in (log_output.turn_buffered, log_output.plain):
        set_aside()
        stream = Stream()
        configure(stream)
        assert (log_output._installed is not None) == (configure is log_output.turn_buffered)
        log_records(monkeypatch)
        monkeypatch.setattr(time, "time", real_time)
        monkeypatch.setattr(time, "time_ns", real_time_ns)
        await asyncio.sleep(0)
        outputs.append("".join(stream.writes))
    fast, library = outputs
    assert fast == library
    assert fast.count("\n") > 2 * len(RECORDS) and "ValueError: boom" in fast


def test_with_this_python_the_fast_path_is_chosen(set_aside):
    set_aside()
    stream = Stream()
    log_output.configure(stream)
    assert isinstance(logging.getLogger().handlers[0], TurnBufferedHandler)
    assert log_output._installed is not None and logging._srcfile is None


def test_without_the_private_name_logging_writes_and_warns_once(set_aside, monkeypatch):
    # logging itself reads _srcfile, so the check is given a name that is not there.
    monkeypatch.setattr(log_output, "PRIVATE", ("logging:_srcfile_renamed",))
    monkeypatch.setattr(logging, "_srcfile", logging.addLevelName.__code__.co_filename)
    set_aside()
    stream = Stream()
    log_output.configure(stream)
    handler = logging.getLogger().handlers[0]
    assert type(handler) is logging.StreamHandler and handler.stream is stream
    assert log_output._installed is None  # info() goes through logger.info
    log_output.info(logging.getLogger("api.app"), "a request")
    lines = "".join(stream.writes).splitlines()
    assert len(lines) == 2 and lines[1].endswith(" INFO api.app: a request")
    assert " WARNING engine.seams: log output: logging._srcfile_renamed is missing" in lines[0]
    assert logging._srcfile is not None  # not set: the fast path's own step


def test_every_private_name_of_logging_used_is_checked():
    """A private name of logging newly used must be listed too."""
    source = Path(log_output.__file__).read_text()
    used = {f"logging:{name}" for name in re.findall(r"\blogging\.(_\w+)", source)}
    assert used and used <= set(log_output.PRIVATE), used - set(log_output.PRIVATE)
