"""Jobs not dialled (expired, account disabled) in each flow's words, and what
an engine says it can start (engine/engine_capacity.py)."""
from __future__ import annotations

import pytest
from redis.asyncio import Redis

from engine.ari.client import AriClient
from engine.engine_capacity import StartMeter
from engine.flows import password_call, reverse_verify
from engine.outcome import ACCOUNT_DISABLED, EXPIRED, CallOutcome
from engine.settings import Settings
from engine.store import Store
from engine.verification import Verification
from engine.worker import Engine

NOT_DIALLED = [EXPIRED, ACCOUNT_DISABLED]


@pytest.mark.parametrize("failure", NOT_DIALLED)
def test_the_reverse_verify_callback_says_reason_0(failure):
    assert reverse_verify.callback_reason(CallOutcome(failure=failure)) == "0"


@pytest.mark.parametrize("failure", NOT_DIALLED)
def test_the_password_call_webhook_says_47_cancel_and_no_cost(failure):
    verification = Verification(flow=password_call.NAME, id="v1", account_id="100001",
                                price=83, money_scale=10000)
    record = password_call.call_record(verification, CallOutcome(failure=failure))
    assert (record["q931_status"], record["final_status"]) == (47, "CANCEL")
    assert record["cost"] == 0 and record["duration"] == 0 and record["start_time"] is None
    # (a call that was dialled and failed costs its price)
    assert password_call.call_record(verification, CallOutcome(cause=17))["cost"] == 0.0083


def test_the_start_rate_counts_the_starts_of_the_last_window():
    meter = StartMeter(window=10)
    assert meter.rate(now=100.0) == 0
    for moment in (100.0, 101.0, 105.0, 109.5):
        meter.note_start(now=moment)
    assert meter.rate(now=110.0) == 0.3  # the start at 100.0 is out of the window
    assert meter.rate(now=119.6) == 0


async def test_an_engine_starts_nothing_while_ari_is_away_else_its_free_slots():
    settings = Settings().replace(max_concurrent_calls=7, consumer_name="e1")
    redis = Redis()  # never connected
    ari = AriClient("http://127.0.0.1:1", "u", "p", "cvtest")
    engine = Engine(settings, redis, Store(redis), ari)
    engine.starts.note_start()
    assert engine.capacity() == (0.0, 0)
    ari.events.connected.set()
    rate, free = engine.capacity()
    assert rate == pytest.approx(0.1) and free == 7
    await redis.aclose()
