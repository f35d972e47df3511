"""A channel's mailbox on asyncio.Queue and asyncio.timeout: the library path
that engine.ari.client.Mailbox stands in for, with the same interface."""
from __future__ import annotations

import asyncio

# What Mailbox reads of asyncio. None of it is private; the check is there so
# every fast path is chosen the same way (engine/seams.py).
READS = ("asyncio:get_running_loop", "asyncio:AbstractEventLoop.create_future",
         "asyncio:AbstractEventLoop.call_later")


class QueueMailbox:
    """One channel's events, in order, for the one coroutine that reads them.

    When a wait's timeout and an event fall in the same loop turn, this gives
    None and keeps the event for the next get, where Mailbox gives the event.
    """

    __slots__ = ("_queue", "_reading")

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict] = asyncio.Queue()
        self._reading = False

    def empty(self) -> bool:
        return self._queue.empty()

    def put(self, event: dict) -> None:
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> dict | None:
        """The next event; None if none came within `timeout` seconds."""
        queue = self._queue
        if not queue.empty():
            return queue.get_nowait()
        if timeout is not None and timeout <= 0:
            return None
        if self._reading:
            raise RuntimeError("a channel's events have one reader")
        self._reading = True
        try:
            async with asyncio.timeout(timeout):
                return await queue.get()
        except TimeoutError:
            return None
        finally:
            self._reading = False
