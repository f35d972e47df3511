"""ARI client: REST plus events, routed into one ordered queue per channel."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from engine.ari.events import EventStream
from engine.ari.mailbox import READS as MAILBOX_READS
from engine.ari.mailbox import QueueMailbox
from engine.ari.rest import AriRest
from engine.seams import choose, missing

log = logging.getLogger(__name__)

# How long each ask whether a WebSocket carries REST waits for Asterisk's
# answer. A busy Asterisk may answer late, which is not "no REST here": the
# first ask is made before the connect hooks run, the later ones in the
# background. An Asterisk before 22.4 never answers; it stays on HTTP.
PROBE_TIMEOUTS = (2.0, 4.0, 8.0)


def channel_ids_of(event: dict) -> list[str]:
    """The channel ids an event concerns (its channel, a dial's peer, a playback's target)."""
    ids = []
    for key in ("channel", "peer"):
        channel = event.get(key)
        if isinstance(channel, dict) and channel.get("id"):
            ids.append(channel["id"])
    for key in ("playback", "recording"):
        target = (event.get(key) or {}).get("target_uri", "")
        if target.startswith("channel:"):
            ids.append(target[len("channel:"):])
    return ids


class Mailbox:
    """One channel's events, in order, for the one coroutine that reads them.

    In place of asyncio.Queue plus asyncio.timeout: on Python 3.11 every
    get_running_loop() is a getpid() system call, and those two made three or
    four of them for every event a call waited for, besides the timeout's own
    objects, on the engine's busiest path. Here the loop is looked up once,
    and a wait is one future and at most one timer.
    """

    __slots__ = ("_events", "_loop", "_waiter")

    def __init__(self) -> None:
        self._events: deque[dict] = deque()
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future | None = None

    def empty(self) -> bool:
        return not self._events

    def put(self, event: dict) -> None:
        self._events.append(event)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> dict | None:
        """The next event; None if none came within `timeout` seconds."""
        if not self._events:
            if timeout is not None and timeout <= 0:
                return None
            if self._waiter is not None:
                raise RuntimeError("a channel's events have one reader")
            waiter = self._waiter = self._loop.create_future()
            timer = (self._loop.call_later(timeout, _expire, waiter)
                     if timeout is not None else None)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._events:  # the timer went first
                return None
        return self._events.popleft()


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


def choose_mailbox() -> type[Mailbox] | type[QueueMailbox]:
    """Mailbox, or QueueMailbox (engine/ari/mailbox.py) if what it reads is gone."""
    return choose("ARI mailbox", Mailbox, QueueMailbox, missing(MAILBOX_READS))


MAILBOX = choose_mailbox()  # once, at import


class AriClient:
    """One Stasis application on one Asterisk.

    `listen(channel_id)` must be called before originating that channel so no
    event is missed; `forget(channel_id)` when the call is over.

    Besides the events socket it keeps `originate_sockets` WebSockets that
    carry only originates (see engine/ari/rest.py). Each is a Stasis
    application of its own, `<app>-originate-<n>`, that never holds a channel,
    so no event comes over them.
    """

    def __init__(self, base_url: str, user: str, password: str, app: str, *,
                 pool_size: int = 50, heartbeat: float = 10.0,
                 events: tuple[str, ...] = (), originate_sockets: int = 4) -> None:
        self.app = app
        self.event_types = events
        self.rest = AriRest(base_url, user, password, pool_size=pool_size)
        self.events = EventStream(base_url, user, password, app, on_event=self._route,
                                  on_connect=self._connected, heartbeat=heartbeat)
        self.rest.websocket = self.events
        self.originators = [self._originator(base_url, user, password, f"{app}-originate-{n}",
                                             heartbeat) for n in range(originate_sockets)]
        self.rest.originators = self.originators
        self._queues: dict[str, Mailbox | QueueMailbox] = {}
        self._connect_hooks: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task] = []
        self.probe_timeouts = PROBE_TIMEOUTS
        self._probes: set[asyncio.Task] = set()

    def _originator(self, base_url: str, user: str, password: str, app: str,
                    heartbeat: float) -> EventStream:
        async def probe() -> None:
            await self._try_rest_over_websocket(socket)

        socket = EventStream(base_url, user, password, app, on_event=lambda event: None,
                             on_connect=probe, heartbeat=heartbeat)
        return socket

    async def start(self, wait: float | None = 10.0) -> None:
        """Open REST and the event streams; wait (bounded) for the events socket."""
        await self.rest.open()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(socket.run())
                       for socket in (self.events, *self.originators)]
        if wait:
            try:
                await asyncio.wait_for(self.events.connected.wait(), wait)
            except TimeoutError:
                log.warning("ARI events not connected after %.0fs; still trying", wait)

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._probes]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._probes.clear()
        await self.rest.close()

    def on_connect(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` after every (re)connection of the event stream."""
        self._connect_hooks.append(hook)

    def listen(self, channel_id: str) -> Mailbox | QueueMailbox:
        """The channel's mailbox (called inside the running loop)."""
        queue = self._queues.get(channel_id)
        if queue is None:
            queue = self._queues[channel_id] = MAILBOX()
        return queue

    def forget(self, channel_id: str) -> None:
        self._queues.pop(channel_id, None)

    def inject(self, channel_id: str, event: dict) -> None:
        """Put a synthetic event in a channel's queue (used after reconnects)."""
        queue = self._queues.get(channel_id)
        if queue is not None:
            queue.put(event)

    def _route(self, event: dict) -> None:
        for channel_id in channel_ids_of(event):
            queue = self._queues.get(channel_id)
            if queue is not None:
                queue.put(event)

    async def _connected(self) -> None:
        if self.event_types:
            await self._filter_events()
        await self._try_rest_over_websocket(self.events)
        for hook in self._connect_hooks:
            try:
                await hook()
            except Exception:
                log.exception("ARI reconnect hook failed")

    async def _filter_events(self) -> None:
        """Ask Asterisk to send only the event types we read (saves work per call)."""
        # RESTResponse too: the answers to requests sent over the WebSocket.
        body = {"allowed": [{"type": kind} for kind in (*self.event_types, "RESTResponse")]}
        try:
            await self.rest.request("PUT", f"/applications/{self.app}/eventFilter", body=body)
        except Exception as exc:  # an older Asterisk: we just get every event
            log.info("ARI event filter not set (%s)", exc)

    async def _try_rest_over_websocket(self, socket: EventStream) -> None:
        """Send REST over `socket` from now on if Asterisk answers there (22.4+).

        Asks once here; if no answer comes in time, asks again in the
        background (PROBE_TIMEOUTS) while the same connection is up.
        """
        connection = socket.connections
        if not await self._ask_rest(socket, connection, self.probe_timeouts[0]):
            probe = asyncio.get_running_loop().create_task(
                self._ask_rest_again(socket, connection, self.probe_timeouts[1:]))
            self._probes.add(probe)
            probe.add_done_callback(self._probes.discard)

    async def _ask_rest_again(self, socket: EventStream, connection: int,
                              timeouts: tuple[float, ...]) -> None:
        for timeout in timeouts:
            if socket.connections != connection or await self._ask_rest(socket, connection,
                                                                        timeout):
                return
        log.info("ARI REST stays on HTTP (no answer over WebSocket %s)", socket.app)

    @staticmethod
    async def _ask_rest(socket: EventStream, connection: int, timeout: float) -> bool:
        """False when no answer came within `timeout`; True when settled (an
        answer, or the connection went: the next one asks again)."""
        try:
            answer = await socket.request("GET", f"applications/{socket.app}", timeout=timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            return True
        if socket.connections == connection:  # not a later connection's
            socket.carries_rest = answer.get("status_code") == 200
        return True
