"""The ARI events WebSocket: connect, heartbeat, reconnect with backoff.

On Asterisk 20.14+/21.9+/22.4+ the same WebSocket also carries REST requests
and their answers (`RESTRequest` / `RESTResponse`, ARI REST over WebSocket):
`request` sends one and waits for its answer.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import orjson

log = logging.getLogger(__name__)

EventHandler = Callable[[dict], None]
ConnectHook = Callable[[], Coroutine[Any, Any, None]]  # run as a task


class NotSent(ConnectionError):
    """The request never left: the WebSocket was closed or closing. Safe to
    send again another way, even a POST."""


class EventStream:
    """Keeps one WebSocket to /ari/events open for a Stasis application.

    Every event goes to `on_event`. A close of any kind (clean or not) counts
    as a disconnect: the stream reconnects with exponential backoff and jitter
    and runs `on_connect` after each successful (re)connection, so the owner
    can reconcile what it missed.
    """

    def __init__(self, base_url: str, user: str, password: str, app: str, *,
                 on_event: EventHandler, on_connect: ConnectHook | None = None,
                 heartbeat: float = 10.0, backoff_start: float = 0.25,
                 backoff_max: float = 15.0) -> None:
        ws_base = base_url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.url = f"{ws_base}/ari/events"
        self.app = app
        self._auth_header = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self._on_event = on_event
        self._on_connect = on_connect
        self._heartbeat = heartbeat
        self._backoff_start = backoff_start
        self._backoff_max = backoff_max
        self.connected = asyncio.Event()
        self.connections = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._answers: dict[str, asyncio.Future] = {}
        # Set by the owner once Asterisk answered a RESTRequest on this connection.
        self.carries_rest = False
        self._request_ids = itertools.count(1)

    async def run(self) -> None:
        """Connect and read events until cancelled."""
        delay = self._backoff_start
        async with aiohttp.ClientSession(headers=self._auth_header) as session:
            while True:
                try:
                    await self._read_session(session)
                    delay = self._backoff_start
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # any failure is a disconnect
                    log.warning("ARI events: %s: %s", type(exc).__name__, exc)
                finally:
                    self.connected.clear()
                    self.carries_rest = False
                    self._ws = None
                    self._fail_requests()
                pause = random.uniform(0.5, 1.0) * delay
                log.info("ARI events: reconnecting in %.2fs", pause)
                await asyncio.sleep(pause)
                delay = min(delay * 2, self._backoff_max)

    async def _read_session(self, session: aiohttp.ClientSession) -> None:
        params = {"app": self.app, "subscribeAll": "false"}
        async with session.ws_connect(self.url, params=params, heartbeat=self._heartbeat,
                                      max_msg_size=0) as ws:
            self._ws = ws
            self.connections += 1
            self.connected.set()
            log.info("ARI events: connected (app %s, connection %d)", self.app, self.connections)
            if self._on_connect is not None:
                asyncio.get_running_loop().create_task(self._on_connect())
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self._deliver(message.data)
                elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break
            log.warning("ARI events: WebSocket closed (close status %s)", ws.close_code)

    @property
    def takes_rest(self) -> bool:
        """True while the open WebSocket carries REST requests."""
        return self.carries_rest and self._ws is not None and not self._ws.closed

    async def request(self, method: str, uri: str, *, query: list[dict] | None = None,
                      body: str | None = None, timeout: float = 10.0) -> dict:
        """One REST request over the WebSocket; its RESTResponse message.

        Raises NotSent when the WebSocket is not open or cannot take the
        request, ConnectionError when it closes before the answer, TimeoutError
        when none comes within `timeout`.
        """
        ws = self._ws
        if ws is None or ws.closed:
            raise NotSent("ARI WebSocket not connected")
        request_id = str(next(self._request_ids))
        message: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id,
                                   "method": method, "uri": uri}
        if query:
            message["query_strings"] = query
        if body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = body
        answer = asyncio.get_running_loop().create_future()
        self._answers[request_id] = answer
        try:
            try:
                await ws.send_str(orjson.dumps(message).decode())
            except ConnectionError as exc:  # closing: aiohttp's reset error
                raise NotSent(str(exc)) from exc
            async with asyncio.timeout(timeout):
                return await answer
        finally:
            self._answers.pop(request_id, None)

    def _fail_requests(self) -> None:
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(ConnectionError("ARI WebSocket closed"))
        self._answers.clear()

    def _deliver(self, text: str) -> None:
        try:
            event = orjson.loads(text)  # cheaper than json on every ARI event
        except orjson.JSONDecodeError:
            log.warning("ARI events: undecodable message dropped")
            return
        if event.get("type") == "RESTResponse":
            answer = self._answers.pop(event.get("request_id", ""), None)
            if answer is not None and not answer.done():
                answer.set_result(event)
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("ARI events: handler failed on %s", event.get("type"))

    def drop(self) -> None:
        """Abort the current connection as a network failure would (tests, ops)."""
        ws = self._ws
        if ws is not None:
            transport = ws._response.connection.transport if ws._response.connection else None
            if transport is not None:
                transport.abort()
