"""A channel's mailbox: events in order, waits that end on an event or a timeout;
the same through the fast Mailbox and the asyncio.Queue one it stands in for."""
from __future__ import annotations

import asyncio
import logging

import pytest

from engine.ari import client, mailbox
from engine.ari.client import Mailbox
from engine.ari.mailbox import QueueMailbox


@pytest.fixture(params=[Mailbox, QueueMailbox], ids=["fast", "library"])
def kind(request):
    """Each test runs on the fast mailbox and on the library one."""
    return request.param


async def test_events_come_out_in_order_without_waiting(kind):
    box = kind()
    for n in range(3):
        box.put({"n": n})
    assert [(await box.get(0))["n"] for _ in range(3)] == [0, 1, 2]
    assert box.empty()


async def test_a_wait_ends_when_an_event_arrives(kind):
    box = kind()
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, box.put, {"type": "StasisStart"})
    started = loop.time()
    assert await box.get(5) == {"type": "StasisStart"}
    assert loop.time() - started < 4


async def test_a_wait_without_timeout_waits_for_the_event(kind):
    box = kind()
    asyncio.get_running_loop().call_later(0.05, box.put, {"type": "PlaybackFinished"})
    assert await box.get(None) == {"type": "PlaybackFinished"}


async def test_a_timeout_gives_none_and_a_later_event_is_kept(kind):
    box = kind()
    assert await box.get(0.05) is None
    assert await box.get(0) is None
    box.put({"n": 1})
    assert await box.get(0.05) == {"n": 1}


async def test_a_cancelled_wait_leaves_the_mailbox_usable(kind):
    box = kind()
    reader = asyncio.ensure_future(box.get(None))
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    box.put({"n": 2})
    assert await box.get(1) == {"n": 2}


async def test_two_readers_are_refused(kind):
    box = kind()
    first = asyncio.ensure_future(box.get(None))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await box.get(1)
    box.put({"n": 3})
    assert await first == {"n": 3}


async def outcome(awaitable):
    try:
        return await awaitable
    except asyncio.CancelledError:
        return "cancelled"
    except Exception as exc:
        return type(exc).__name__


async def scripted(kind) -> list:
    """A sequence of puts, gets, timeouts and cancels; what each step gave."""
    box, loop, seen = kind(), asyncio.get_running_loop(), []
    seen += [box.empty(), box.put({"n": 1}), box.put({"n": 2}), box.empty()]
    seen += [await box.get(0), await box.get(None), await box.get(0), await box.get(-1)]
    seen += [await box.get(0.01)]                     # a timeout
    loop.call_later(0.01, box.put, {"n": 3})
    seen += [await box.get(1)]                        # a wait ended by an event
    reader = asyncio.ensure_future(box.get(None))
    await asyncio.sleep(0)
    reader.cancel()
    seen += [await outcome(reader), box.put({"n": 4}), await box.get(0)]
    first = asyncio.ensure_future(box.get(1))
    await asyncio.sleep(0)
    seen += [await outcome(box.get(1)), box.put({"n": 5}), await first]  # one reader only
    for n in (6, 7, 8):
        box.put({"n": n})
    seen += [[await box.get(0.01) for _ in range(4)]]  # in order, then a timeout
    reader = asyncio.ensure_future(box.get(5))
    await asyncio.sleep(0)
    box.put({"n": 9})                                  # the reader is woken ...
    reader.cancel()                                    # ... and cancelled before it runs
    seen += [await outcome(reader), box.empty(), await box.get(0), box.empty()]
    reader = asyncio.ensure_future(box.get(5))
    await asyncio.sleep(0)
    reader.cancel()
    seen += [await outcome(reader), await box.get(0.01), await outcome(box.get(0))]
    return seen


async def test_both_mailboxes_give_the_same_results_step_by_step():
    """Fails when a Python upgrade makes asyncio's Queue or timeout differ from Mailbox."""
    fast, library = await scripted(Mailbox), await scripted(QueueMailbox)
    assert fast == library
    assert fast.count(None) > 5 and "cancelled" in fast and "RuntimeError" in fast


def test_with_this_python_the_fast_mailbox_is_chosen():
    assert client.MAILBOX is client.Mailbox


@pytest.mark.parametrize("name", mailbox.READS)
def test_a_name_gone_gives_the_queue_mailbox_and_one_warning(name, monkeypatch, caplog):
    module, path = name.split(":")
    owner, _, attribute = path.rpartition(".")
    monkeypatch.delattr(getattr(asyncio, owner) if owner else asyncio, attribute)
    assert client.choose_mailbox() is QueueMailbox
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{module}.{path}" in warnings[0]
