"""A channel's mailbox: events in order, waits that end on an event or a timeout."""
from __future__ import annotations

import asyncio

import pytest

from engine.ari.client import Mailbox


async def test_events_come_out_in_order_without_waiting():
    box = Mailbox()
    for n in range(3):
        box.put({"n": n})
    assert [(await box.get(0))["n"] for _ in range(3)] == [0, 1, 2]
    assert box.empty()


async def test_a_wait_ends_when_an_event_arrives():
    box = Mailbox()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, box.put, {"type": "StasisStart"})
    started = loop.time()
    assert await box.get(5) == {"type": "StasisStart"}
    assert loop.time() - started < 4


async def test_a_wait_without_timeout_waits_for_the_event():
    box = Mailbox()
    asyncio.get_running_loop().call_later(0.05, box.put, {"type": "PlaybackFinished"})
    assert await box.get(None) == {"type": "PlaybackFinished"}


async def test_a_timeout_gives_none_and_a_later_event_is_kept():
    box = Mailbox()
    assert await box.get(0.05) is None
    assert await box.get(0) is None
    box.put({"n": 1})
    assert await box.get(0.05) == {"n": 1}


async def test_a_cancelled_wait_leaves_the_mailbox_usable():
    box = Mailbox()
    reader = asyncio.ensure_future(box.get(None))
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    box.put({"n": 2})
    assert await box.get(1) == {"n": 2}


async def test_two_readers_are_refused():
    box = Mailbox()
    first = asyncio.ensure_future(box.get(None))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await box.get(1)
    box.put({"n": 3})
    assert await first == {"n": 3}
