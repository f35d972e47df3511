"""Slow clients and the connection cap: how long the API waits on a client,
and how many connections one API process holds.

Every wait on a client is bounded by CALLVERIFY_READ_TIMEOUT (T), each by the
part of the stack that waits:

- the TLS handshake: the listener's `ssl_handshake_timeout`;
- a request's head (request line and headers), counted from the connection's
  start or from the end of the previous answer: aiohttp arms its keep-alive
  timer (`keepalive_timeout` = T) at both, and when it fires while aiohttp
  still waits for a whole head, it closes the connection. So an idle new
  connection, an idle keep-alive connection and one that drips its headers
  all close T after they began to owe a request;
- a body a handler reads: `body_deadline` (armed by the app's failure guard
  when a handler starts before its body is in) makes the read fail with
  BodyLate T later, answered 408 and the connection closed;
- a body nobody reads (answered before it arrived): aiohttp's lingering read
  (`lingering_time` = T), then the connection closes.

The cap: `CappedConnections` stands in for aiohttp's protocol factory. Past
CALLVERIFY_MAX_CONNECTIONS open in this process, a new connection gets a 503
and is closed at once; those already open are served as before.
"""
from __future__ import annotations

import asyncio
import logging
import resource
import ssl
import time
from collections.abc import Callable
from typing import cast

from aiohttp import streams, web

log = logging.getLogger(__name__)
REFUSAL_LOG_SECONDS = 60.0
# File descriptors kept beyond the connection cap: the Redis pool
# (api/redis_client.py), the listener, logs and the engine's sockets.
SPARE_FILES = 512
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nServer: callverify\r\nConnection: close\r\n"
        b"Retry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\n"
        b"too many connections\n")


class BodyLate(TimeoutError):
    """The request's body did not arrive within the read timeout.

    A TimeoutError, so that aiohttp's lingering read after the answer takes it
    as the end of waiting (it reads on only past other errors' log lines)."""


def body_deadline(request: web.Request, seconds: float) -> asyncio.TimerHandle | None:
    """If the request's body is still arriving, make its reads fail with
    BodyLate in `seconds` unless it is in by then; the timer to cancel once
    the handler returns (None when the body was already in, as usual)."""
    content = request.content
    if content.is_eof():
        return None
    return asyncio.get_running_loop().call_later(seconds, _body_late, content)


def _body_late(content: streams.StreamReader) -> None:
    if not content.is_eof():
        content.set_exception(BodyLate())


class CappedConnections:
    """A protocol factory: aiohttp's (`make`), with at most `limit` of its
    connections open at once."""

    def __init__(self, make: Callable[[], web.RequestHandler], limit: int) -> None:
        self.make = make
        self.limit = limit
        self.open = 0
        self._refused = 0
        self._logged_at = -REFUSAL_LOG_SECONDS

    def __call__(self) -> asyncio.BaseProtocol:
        return Connection(self, self.make())

    def refuse(self, transport: asyncio.BaseTransport) -> None:
        """Answer 503 and close; say so in the log at most once a minute."""
        cast("asyncio.Transport", transport).write(BUSY)
        transport.close()
        self._refused += 1
        now = time.monotonic()
        if now - self._logged_at >= REFUSAL_LOG_SECONDS:
            log.warning("connection cap reached (%d open, CALLVERIFY_MAX_CONNECTIONS): "
                        "%d new connection(s) answered 503 and closed", self.open, self._refused)
            self._logged_at, self._refused = now, 0


class Connection(asyncio.BaseProtocol):
    """One connection: aiohttp's request handler, counted against the cap.

    The transport calls `data_received` and `eof_received` on this object;
    they are the handler's own bound methods (set before the transport exists:
    uvloop looks `data_received` up once, when it is made), so reading a
    request costs no call of ours.
    """

    __slots__ = ("_cap", "_handler", "_counted", "data_received", "eof_received")
    data_received: Callable[[bytes], None]
    eof_received: Callable[[], bool | None]

    def __init__(self, cap: CappedConnections, handler: web.RequestHandler) -> None:
        self._cap, self._handler, self._counted = cap, handler, False
        self.data_received = handler.data_received
        self.eof_received = handler.eof_received

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cap = self._cap
        if cap.open >= cap.limit:
            self._handler.force_close()  # never started: it ignores what still arrives
            cap.refuse(transport)
            return
        cap.open += 1
        self._counted = True
        self._handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._counted:
            self._counted = False
            self._cap.open -= 1
            self._handler.connection_lost(exc)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()


async def listen(runner: web.AppRunner, host: str, port: int, *, max_connections: int,
                 read_timeout: float, context: ssl.SSLContext | None,
                 reuse_port: bool) -> asyncio.Server:
    """Listen on host:port for `runner`'s app, at most `max_connections` open,
    TLS handshakes bounded by `read_timeout` (what aiohttp's TCPSite does, plus
    those two)."""
    if runner.server is None:
        raise RuntimeError("runner.setup() first")
    room_for_connections(max_connections)
    return await asyncio.get_running_loop().create_server(
        CappedConnections(runner.server, max_connections), host, port, ssl=context,
        ssl_handshake_timeout=read_timeout if context else None, backlog=128,
        reuse_port=reuse_port or None)


def room_for_connections(max_connections: int) -> int:
    """Raise this process's open-file limit, if it can, to hold `max_connections`
    and SPARE_FILES more, so the cap, not a failed accept(), refuses the
    surplus; warn if it cannot. The soft limit now."""
    wanted = max_connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
        if soft < wanted:
            log.warning("the open-file limit (%d) is below CALLVERIFY_MAX_CONNECTIONS=%d plus "
                        "%d: connections may fail before the cap; raise the limit (ulimit -n, "
                        "systemd LimitNOFILE=)", soft, max_connections, SPARE_FILES)
    return soft
