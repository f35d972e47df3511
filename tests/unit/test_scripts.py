"""engine.scripts picks BatchedScript only while redis-py and hiredis hold what
it reads from their inside; otherwise redis-py's registered script, with one
warning. (That the two answer alike against a real Redis is in
tests/integration/test_batched_script.py.)"""
from __future__ import annotations

import ast
import importlib
import logging
import re
from pathlib import Path

import hiredis
import pytest
from redis._parsers import _AsyncRESP2Parser
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.asyncio import Connection, Redis
from redis.commands.core import AsyncScript

from engine import batched_script, scripts
from engine.batched_script import BatchedScript


@pytest.fixture
def fresh_choice():
    scripts.script_kind.cache_clear()
    yield
    scripts.script_kind.cache_clear()


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_with_the_pinned_libraries_the_fast_path_is_chosen(fresh_choice, caplog):
    assert scripts.batched_script_missing() is None
    assert isinstance(scripts.lua_script(Redis(), "return 1"), BatchedScript)
    assert warnings_in(caplog) == []


@pytest.mark.parametrize("name", scripts.PRIVATE)
def test_each_private_name_missing_is_noticed(name, monkeypatch):
    module, attribute = name.split(":")
    monkeypatch.delattr(importlib.import_module(module), attribute)
    assert scripts.batched_script_missing() == f"{module}.{attribute}"


def test_a_missing_name_falls_back_to_the_registered_script_with_one_warning(
        fresh_choice, monkeypatch, caplog):
    monkeypatch.delattr(hiredis, "pack_command")
    redis = Redis()
    made = [scripts.lua_script(redis, "return 1"), scripts.lua_script(redis, "return 2")]
    assert all(isinstance(script, AsyncScript) for script in made)
    assert len(warnings := warnings_in(caplog)) == 1
    assert "hiredis.pack_command" in warnings[0]


@pytest.mark.parametrize("attribute", ["_parser", "_writer", "socket_timeout"])
def test_a_connection_attribute_gone_is_noticed(attribute):
    connection = Connection()
    delattr(connection, attribute)
    assert scripts.batched_script_missing(connection) == f"redis.asyncio.Connection.{attribute}"


def test_a_connection_that_cannot_be_made_so_is_noticed(monkeypatch):
    import redis.asyncio

    class NeedsArguments(Connection):
        def __init__(self, host):
            super().__init__(host=host)
    monkeypatch.setattr(redis.asyncio, "Connection", NeedsArguments)
    assert scripts.batched_script_missing() == "redis.asyncio.Connection (made without arguments)"


def test_a_connection_without_the_hiredis_parser_is_noticed():
    connection = Connection(parser_class=_AsyncRESP2Parser)
    assert "_AsyncHiredisParser" in scripts.batched_script_missing(connection)


def _reader_without_not_enough_data(parser, connection):
    parser._stream = connection._reader
    parser._reader = hiredis.Reader()  # answers False, not NOT_ENOUGH_DATA


def _no_stream(parser, connection):
    del parser._stream


def _raises(parser, connection):
    raise AttributeError("encoder")


@pytest.mark.parametrize("on_connect, name", [
    (_reader_without_not_enough_data, "_AsyncHiredisParser._reader"),
    (_no_stream, "_AsyncHiredisParser._stream"),
    (_raises, "_AsyncHiredisParser.on_connect"),
])
def test_a_parser_that_reads_otherwise_is_noticed(on_connect, name, monkeypatch):
    monkeypatch.setattr(_AsyncHiredisParser, "on_connect", on_connect)
    assert name in scripts.batched_script_missing()


def test_every_private_name_batched_script_reads_is_checked():
    """A private name added to BatchedScript must be added to the check too."""
    source = Path(batched_script.__file__).read_text()
    imported = {f"{node.module}:{alias.name}" for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.ImportFrom)
                and node.module.split(".")[0] in ("redis", "hiredis")
                for alias in node.names}
    private = {name for name in imported
               if name.startswith("hiredis:") or re.search(r"[.:]_", name)}
    assert private and private <= set(scripts.PRIVATE), private - set(scripts.PRIVATE)
    # The attributes batched_script_missing() tries on a connection and its parser.
    read = set(re.findall(r"(?:connection|parser)\.(_\w+)", source))
    assert read <= {"_parser", "_writer", "_reader", "_stream"}, read
