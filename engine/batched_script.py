"""A Redis Lua script whose concurrent calls share one connection, pipelined.

Under load the API runs the accept script for many requests at once, and
each call through redis-py pays for a pool checkout, argument encoding, a
read per reply, and timeout and retry wrappers. Here the calls made in one
event-loop turn are packed into one write of EVALSHAs (no transaction: each
script is atomic on its own), on a connection this script holds for itself;
the next turn's batch is written at once, without waiting for the replies of
the one before, and one reader hands the replies out in order. A batch costs
a write, and a reply costs its parse: no pool checkout, task or timeout
context per batch.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from hiredis import pack_command
from redis._parsers.hiredis import NOT_ENOUGH_DATA, _AsyncHiredisParser
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

READ_SIZE = 65536


@dataclass(eq=False, slots=True)
class Call:
    keys: Sequence
    args: Sequence
    future: asyncio.Future
    retried: bool = False
    sent_at: float = field(default=0.0)


class BatchedScript:
    """Call like redis-py's registered script: `await script(keys=[...], args=[...])`.

    Arguments are str, bytes, int or float. An error reply is raised to its own
    caller only. When the connection is lost, the calls still waiting for their
    replies go once more on a new connection, as redis-py's own retry would;
    no reply within the client's socket_timeout is not retried (the scripts may
    have run): it is raised to every caller waiting, like a connection lost twice.
    """

    def __init__(self, redis: Redis, lua: str) -> None:
        self._redis = redis
        self._script = redis.register_script(lua)  # owns the SHA; loads the script when missing
        self._waiting: list[Call] = []
        self._link: Link | None = None
        self._connecting: asyncio.Future | None = None
        self._loading: asyncio.Future | None = None
        self._tasks: set[asyncio.Task] = set()

    async def __call__(self, keys: Sequence = (), args: Sequence = ()):
        try:
            return await self._batched(keys, args)
        except NoScriptError:
            # Redis restarted or flushed its scripts: load it once for every
            # caller that met it, then go again.
            await self._load()
            return await self._batched(keys, args)

    def _batched(self, keys: Sequence, args: Sequence) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        call = Call(keys, args, loop.create_future())
        if not self._waiting:
            # Everything called before the loop's next turn joins this batch.
            loop.call_soon(self._send_waiting)
        self._waiting.append(call)
        return call.future

    async def _load(self) -> None:
        loading = self._loading
        if loading is None or loading.done() or loading.get_loop() is not asyncio.get_running_loop():
            loading = self._loading = asyncio.ensure_future(
                self._redis.script_load(self._script.script))
        await asyncio.shield(loading)

    def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        self.send(batch)

    def send(self, batch: list[Call]) -> None:
        link = self._link
        if link is not None and link.usable and link.loop is asyncio.get_running_loop():
            link.write(batch)
        else:
            self._spawn(self._connect_and_write(batch))

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect_and_write(self, batch: list[Call]) -> None:
        """Open a link (one connection attempt shared by every batch waiting) and write."""
        loop = asyncio.get_running_loop()
        connecting = self._connecting
        if connecting is None or connecting.get_loop() is not loop:
            connecting = self._connecting = asyncio.ensure_future(self._new_link())
        try:
            link = await asyncio.shield(connecting)
        except Exception as exc:
            fail(batch, exc)
            return
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None
        link.write(batch)

    async def _new_link(self) -> Link:
        pool = self._redis.connection_pool
        if self._link is not None:
            # The last link was lost: the idle connections pooled beside it are
            # likely dead too (a Redis restart), so none is handed to this one.
            await pool.disconnect(inuse_connections=False)
        connection = await pool.get_connection()
        if not isinstance(connection._parser, _AsyncHiredisParser):
            await pool.release(connection)
            raise TypeError("BatchedScript reads replies with hiredis: the client must use "
                            "redis-py's hiredis parser (its default when hiredis is installed)")
        self._link = Link(self, pool, connection)
        return self._link

    def lost(self, calls: list[Call], exc: Exception) -> None:
        """The link died with `calls` unanswered: each goes once more, then fails."""
        again = [call for call in calls if not call.retried and not call.future.done()]
        fail([call for call in calls if call.retried], exc)
        for call in again:
            call.retried = True
        if again:
            self.send(again)


class Link:
    """One pooled connection held by a BatchedScript: batches are written as they
    come, one reader resolves the calls in the order they were sent."""

    def __init__(self, owner: BatchedScript, pool, connection) -> None:
        self._owner, self._pool, self._connection = owner, pool, connection
        self.loop = asyncio.get_running_loop()
        self._sha = owner._script.sha
        self._pending: deque[Call] = deque()
        self._timeout = connection.socket_timeout or None
        self._timer: asyncio.TimerHandle | None = None
        self.usable = True  # until closed: lost, timed out or found dead
        self._reader = asyncio.ensure_future(self._read())

    def write(self, batch: list[Call]) -> None:
        sha = self._sha
        packed = b"".join(command(b"EVALSHA", sha, len(call.keys), *call.keys, *call.args)
                          for call in batch)
        writer = self._connection._writer  # redis-py's asyncio StreamWriter
        if writer is None or writer.is_closing():
            self._close()
            self._owner.lost(batch, RedisConnectionError("Connection closed"))
            return
        writer.write(packed)
        now = self.loop.time()
        for call in batch:
            call.sent_at = now
        self._pending.extend(batch)
        self._arm()

    async def _read(self) -> None:
        # The replies straight from the connection's hiredis reader and stream
        # (redis-py's parser holds both): one await a chunk read, instead of
        # read_response's three coroutine layers a reply.
        parser = self._connection._parser
        replies, stream, pending = parser._reader, parser._stream, self._pending
        try:
            while True:
                reply = replies.gets()
                if reply is NOT_ENOUGH_DATA:
                    chunk = await stream.read(READ_SIZE)
                    if not chunk:
                        raise RedisConnectionError("Connection closed by server.")
                    replies.feed(chunk)
                    continue
                if isinstance(reply, Exception) and not isinstance(reply, ResponseError):
                    raise reply  # hiredis' own: a protocol error
                call = pending.popleft()
                if call.future.done():
                    continue
                if isinstance(reply, ResponseError):
                    call.future.set_exception(reply)
                else:
                    call.future.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.usable:  # not closed already (a timeout, a dead write)
                calls = list(pending)
                pending.clear()
                self._close()
                error = exc if isinstance(exc, RedisConnectionError) else RedisConnectionError(
                    f"Connection lost: {type(exc).__name__}")
                self._owner.lost(calls, error)

    def _arm(self) -> None:
        if self._timer is None and self._pending and self._timeout:
            self._timer = self.loop.call_at(self._pending[0].sent_at + self._timeout,
                                             self._check)

    def _check(self) -> None:
        self._timer = None
        if not self._pending:
            return
        # Armed only with a timeout (_arm): not None here.
        if self.loop.time() >= self._pending[0].sent_at + self._timeout:  # type: ignore[operator]
            # Replies may still come on it: never use this connection again.
            calls = list(self._pending)
            self._pending.clear()
            self._close()
            fail(calls, RedisTimeoutError("Timeout reading the replies of a batch"))
        else:
            self._arm()

    def _close(self) -> None:
        if not self.usable:
            return
        self.usable = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._reader is not asyncio.current_task():
            self._reader.cancel()
        self._owner._spawn(self._release())

    async def _release(self) -> None:
        try:
            await self._connection.disconnect()
        finally:
            await self._pool.release(self._connection)


def fail(calls: list[Call], exc: Exception) -> None:
    for call in calls:
        if not call.future.done():
            call.future.set_exception(exc)


def command(*parts: str | bytes | int | float) -> bytes:
    """One command in RESP (an array of bulk strings), packed by hiredis in C,
    far cheaper than packing it in Python. TypeError for other types."""
    # hiredis's stub types `cmd` as a 1-tuple (Tuple[X], not Tuple[X, ...]).
    return pack_command(parts)  # type: ignore[arg-type]
