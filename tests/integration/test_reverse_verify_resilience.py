"""No accepted request is lost: engine down, ARI WebSocket dropped, parallel load,
callback receiver failing."""
from __future__ import annotations

import asyncio

import redis

from api.service import Service
from tests.integration.conftest import ari_channels


async def answered_call(service: Service):
    """The engine's one call, once the phone has answered it."""
    for _ in range(100):
        calls = list(service.engine.calls.values())
        if calls and calls[0].record.answered:
            return calls[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no call was answered within 10 s")


def params(account, callbacks, number: str, code: str = "1234") -> dict:
    return {"api_key": account.api_key, "phone_number": number, "country_code": "1",
            "code": code, "callback_url": callbacks.url}


async def test_requests_accepted_while_engine_down_are_called_when_it_starts(
        settings, asterisk_clean, api, callbacks, phone):
    sipp = phone("answer_dtmf", keys="1234#")
    async with Service(settings, {"api", "delivery"}) as front:
        account = await front.store.accounts.create("t", 5)
        assert await api.reverse_verify(**params(account, callbacks, "5551230101")) == "0"
        await asyncio.sleep(2)
        assert sipp.invite_count == 0
        async with Service(settings, {"engine"}):
            callback = await callbacks.next(timeout=40)
    assert callback["query"]["match"] == "1" and callback["query"]["answered"] == "1"
    assert sipp.invite_count == 1


async def test_dropped_websocket_reconnects_and_later_calls_work(service, api, account,
                                                                 callbacks, phone):
    events = service.ari.events
    await asyncio.wait_for(events.connected.wait(), 10)
    assert events.connections == 1
    events.drop()
    for _ in range(100):
        await asyncio.sleep(0.1)
        if events.connections == 2 and events.connected.is_set():
            break
    assert events.connections == 2
    phone("answer_dtmf", keys="1234#")
    assert await api.reverse_verify(**params(account, callbacks, "5551230102")) == "0"
    callback = await callbacks.next(timeout=40)
    assert callback["query"]["match"] == "1"


async def test_parallel_requests_never_overspend(service, api, callbacks, phone, clean_redis):
    account = await service.store.accounts.create("t", 10)
    sipp = phone("busy", calls=10)
    numbers = [f"55512302{i:02d}" for i in range(20)]
    codes = await asyncio.gather(*(api.reverse_verify(**params(account, callbacks, n))
                                   for n in numbers))
    assert sorted(codes) == ["0"] * 10 + ["2"] * 10
    results = [await callbacks.next(timeout=40) for _ in range(10)]
    assert all(r["query"]["reason"] == "5" for r in results)
    assert sipp.wait(timeout=30) == 0
    assert sipp.invite_count == 10
    assert (await service.store.accounts.get(account.account_id)).credits == 0
    await asyncio.sleep(1)
    assert callbacks.requests.empty()


async def test_callback_is_retried_until_it_succeeds(service, api, account, callbacks, phone,
                                                    clean_redis):
    callbacks.statuses = [500, 503]
    phone("busy")
    assert await api.reverse_verify(**params(account, callbacks, "5551230103")) == "0"
    answers = [await callbacks.next(timeout=40) for _ in range(3)]
    assert [a["status"] for a in answers] == [500, 503, 200]
    assert answers[0]["query"] == answers[2]["query"]
    client = redis.Redis.from_url(clean_redis)
    await asyncio.sleep(0.5)
    assert client.zcard("cv:deliveries:due") == 0
    client.close()


async def test_engine_restart_mid_call_finishes_the_verification(settings, asterisk_clean, api,
                                                                 callbacks, phone):
    phone("answer_silent")
    async with Service(settings, {"api", "delivery"}) as front:
        account = await front.store.accounts.create("t", 5)
        engine = Service(settings, {"engine"})
        await engine.start()
        assert await api.reverse_verify(**params(account, callbacks, "5551230104")) == "0"
        await answered_call(engine)
        await engine.stop(grace=0)  # the call is cut: its job stays pending
        async with Service(settings, {"engine"}):
            callback = await callbacks.next(timeout=20)
    assert callback["query"]["match"] == "0"
    assert callback["query"]["reason"] == "0"


async def test_orphaned_channel_of_a_crashed_engine_is_hung_up_and_finished(
        settings, asterisk_clean, api, callbacks, phone, sandbox):
    phone("answer_silent")
    async with Service(settings, {"api", "delivery"}) as front:
        account = await front.store.accounts.create("t", 5)
        crashed = Service(settings, {"engine"})
        await crashed.start()
        assert await api.reverse_verify(**params(account, callbacks, "5551230105")) == "0"
        call = await answered_call(crashed)

        async def cannot_hang_up(*args, **kwargs):  # a crash leaves the channel up
            return False
        crashed.ari.rest.hang_up = cannot_hang_up
        await crashed.stop(grace=0)
        assert [c["id"] for c in await ari_channels(sandbox)] == [call.channel_id]
        async with Service(settings, {"engine"}):
            callback = await callbacks.next(timeout=20)
            for _ in range(50):
                if not await ari_channels(sandbox):
                    break
                await asyncio.sleep(0.1)
            assert await ari_channels(sandbox) == []
    assert callback["query"]["answered"] == "0" and callback["query"]["reason"] == "0"


async def test_a_verdict_that_cannot_be_stored_still_hangs_the_call_up(service, api, account,
                                                                       callbacks, phone):
    """Redis failing at the verdict: the phone is hung up at once, not left up
    until the call cap; the job stays pending for a later take."""
    sipp = phone("answer_dtmf", keys="1234#")
    failed = asyncio.Event()

    async def unreachable(*args, **kwargs):
        failed.set()
        raise redis.ConnectionError("Redis went away")

    service.engine.give_verdict = unreachable
    assert await api.reverse_verify(**params(account, callbacks, "5551230301")) == "0"
    await asyncio.wait_for(failed.wait(), 30)
    # The phone gets our BYE within seconds (the call cap is minutes away).
    await asyncio.to_thread(sipp.wait, timeout=10)
    assert sipp.returncode == 0
    assert await service.engine.queue.pending_count() == 1
    for job in await service.engine.queue.own_pending():
        await service.engine.queue.ack(job)
