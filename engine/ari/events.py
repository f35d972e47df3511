"""The ARI events WebSocket: connect, heartbeat, reconnect with backoff."""
from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable

import aiohttp

log = logging.getLogger(__name__)

EventHandler = Callable[[dict], None]
ConnectHook = Callable[[], Awaitable[None]]


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
                    self._ws = None
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

    def _deliver(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            log.warning("ARI events: undecodable message dropped")
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
