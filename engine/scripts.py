"""The Lua scripts of the store, the queue and the delivery worker, called as
redis-py's registered scripts are: `await script(keys=[...], args=[...])`.

`lua_script` gives a BatchedScript (engine/batched_script.py), which reads
redis-py's connection and hiredis parser from the inside, when everything it
reads is there and behaves as it expects; else redis-py's own registered
script, with one warning. The check runs once, at the first script made (the
services' start-up), not at import: by then the log output is set up.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from redis.asyncio import Redis

from engine.seams import fall_back, missing

if TYPE_CHECKING:
    from hiredis import Reader

# What engine/batched_script.py imports from libraries beyond their public API.
PRIVATE = (
    "redis._parsers.hiredis:NOT_ENOUGH_DATA",
    "redis._parsers.hiredis:_AsyncHiredisParser",
    "hiredis:pack_command",
    "hiredis:Reader",
)


def batched_script_missing(connection=None) -> str | None:
    """The first thing BatchedScript needs that is not there, or None.

    Beyond its imports, it reads a connection's `_parser`, `_writer` and
    `socket_timeout`, and the parser's `_stream` and `_reader`, a hiredis
    Reader that answers NOT_ENOUGH_DATA until a whole reply is in: tried on a
    connection made (not connected) as the pool would, or on `connection`.
    """
    name = missing(PRIVATE)
    if name is not None:
        return name
    from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
    from redis.asyncio import Connection

    name = "redis.asyncio.Connection (made without arguments)"
    try:
        if connection is None:
            connection = Connection()
        for attribute in ("_parser", "_writer", "socket_timeout"):
            name = f"redis.asyncio.Connection.{attribute}"
            getattr(connection, attribute)
        parser = connection._parser
        name = "redis._parsers.hiredis._AsyncHiredisParser (as the default parser)"
        if not isinstance(parser, _AsyncHiredisParser):
            return name
        name = "redis._parsers.hiredis._AsyncHiredisParser.on_connect"
        parser.on_connect(connection)
        name = "redis._parsers.hiredis._AsyncHiredisParser._stream"
        getattr(parser, "_stream")  # noqa: B009 (a probe: raises if the name is gone)
        name = "redis._parsers.hiredis._AsyncHiredisParser._reader (answering NOT_ENOUGH_DATA)"
        # A Reader once connected; redis-py leaves it typed as its initial None.
        reader = cast("Reader", parser._reader)
        if reader.gets() is not NOT_ENOUGH_DATA:
            return name
        reader.feed(b"*2\r\n:1\r\n$1\r\na\r")
        if reader.gets() is not NOT_ENOUGH_DATA:
            return name
        reader.feed(b"\n")
        if reader.gets() != [1, b"a"]:
            return name
        name = "redis._parsers.hiredis._AsyncHiredisParser.on_disconnect"
        parser.on_disconnect()
    except Exception:
        return name
    return None


def registered_script(redis: Redis, lua: str):
    """The library path: redis-py's own registered script."""
    return redis.register_script(lua)


@functools.cache
def script_kind() -> Callable[[Redis, str], Callable]:
    """BatchedScript, or registered_script (with one warning): chosen once."""
    name = batched_script_missing()
    if name is not None:
        fall_back("BatchedScript", name)
        return registered_script
    from engine.batched_script import BatchedScript  # imports what was checked above
    return BatchedScript


def lua_script(redis: Redis, lua: str):
    """A script of `lua` on `redis`, called as redis-py's registered scripts are."""
    return script_kind()(redis, lua)
