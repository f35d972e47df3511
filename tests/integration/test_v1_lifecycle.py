"""A /v1 verification after it is created, on the real stack: its call's
progress events, checks of its code, its cancel (during ringing: the phone
sees CANCEL; while queued: refunded) and its expiry, with the events the
receiver gets."""
from __future__ import annotations

import asyncio
import time

import pytest

from api.service import Service
from engine.v1_status import status_of
from tests.integration.v1_lifecycle import PRICE, V1, accept, deliveries_made, done, event, until

TEST_NUMBER = "12025550100"  # answers after a second's ring, no phone needed


@pytest.fixture
async def v1(service, account, settings) -> V1:
    return V1(settings, account.token)


async def test_caller_id_checked_with_the_number_that_called_is_verified(
        service, settings, account, v1, callbacks, phone, redis):
    sipp = phone("answer_silent", ring_ms=1000)
    vid = await accept(service.store, settings, account, "caller_id", "15551230301",
                       code="4821", callback_url=callbacks.url)
    ringing, answered = await event(callbacks), await event(callbacks)
    assert (ringing["type"], ringing["data"]["status"]) == ("verification.ringing", "ringing")
    assert (answered["type"], answered["data"]["status"]) == ("verification.answered",
                                                              "answered")
    await done(service.store, vid)
    status, answer = await v1.check(vid, sipp.invites[0].from_user[-4:])
    assert status == 200, answer
    assert (answer["verified"], answer["checks_left"]) == (True, 4)
    assert answer["verification"]["status"] == "verified"
    verified = await event(callbacks)
    assert (verified["type"], verified["data"]["id"]) == ("verification.verified", vid)
    assert (await v1.check(vid, "4821"))[0] == 409  # ended: no more checks
    assert (await service.store.verifications.get(vid)).checks == 1


async def test_a_voice_code_heard_and_checked_is_verified(service, settings, account, v1,
                                                          callbacks, phone):
    phone("answer_hangup", hangup_ms=3000)  # hears the code, hangs up
    vid = await accept(service.store, settings, account, "voice", "15551230304",
                       code="538201", callback_url=callbacks.url)
    record = await done(service.store, vid)
    assert record.outcome.answered and record.spoken_code == ""  # dropped at the verdict
    status, answer = await v1.check(vid, "538201")
    assert (status, answer["verified"], answer["verification"]["status"]) == (200, True,
                                                                              "verified")
    types = [(await event(callbacks))["type"] for _ in range(3)]
    assert types == ["verification.ringing", "verification.answered", "verification.verified"]


async def test_five_wrong_checks_fail_it_and_a_sixth_is_refused(service, settings, account, v1,
                                                                callbacks, phone, redis):
    phone("answer_hangup", hangup_ms=2000)
    vid = await accept(service.store, settings, account, "voice", "15551230305",
                       code="538201", callback_url=callbacks.url)
    await done(service.store, vid)
    for left in (4, 3, 2, 1):
        status, answer = await v1.check(vid, "999999")
        assert (status, answer["verified"], answer["checks_left"]) == (200, False, left)
        assert answer["verification"]["status"] == "answered"
    status, answer = await v1.check(vid, "999999")
    assert (status, answer["verified"], answer["checks_left"]) == (200, False, 0)
    shown = answer["verification"]
    assert (shown["status"], shown["failure_reason"]) == ("failed", "wrong_code")
    status, problem = await v1.check(vid, "538201")  # right, but too late
    assert status == 409 and problem["type"] == "urn:callverify:problem:conflict"
    types = [(await event(callbacks))["type"] for _ in range(3)]
    assert types == ["verification.ringing", "verification.answered", "verification.failed"]
    assert await deliveries_made(redis, "15551230305") == 3
    assert (await service.store.verifications.get(vid)).checks == 5


async def test_an_unchecked_code_expires_with_its_event(service, settings, account, v1,
                                                        callbacks, redis):
    vid = await accept(service.store, settings, account, "caller_id", TEST_NUMBER,
                       code="1234", callback_url=callbacks.url)
    await done(service.store, vid)
    # The window cut short once the call is over (the sweep ends it, not the verdict).
    ends = time.time() + 1
    await redis.hset(f"cv:verification:{vid}", "expires_at", f"{ends:.3f}")
    assert await redis.zscore("cv:v1:check-windows", vid)  # opened by the call's progress
    await redis.zadd("cv:v1:check-windows", {vid: ends})
    types = [(await event(callbacks))["type"] for _ in range(3)]
    assert types == ["verification.ringing", "verification.answered", "verification.expired"]
    record = await service.store.verifications.get(vid)
    assert (record.final, record.final_reason, record.final_at) == ("expired", "expired",
                                                                    round(ends, 3))
    assert (await v1.check(vid, "1234"))[0] == 409
    assert (await v1.cancel(vid))[0] == 409
    assert await deliveries_made(redis, TEST_NUMBER) == 3  # expired once
    assert await redis.zcard("cv:v1:check-windows") == 0


async def test_cancel_during_ringing_hangs_up(service, settings, account, v1, callbacks, phone,
                                              redis):
    sipp = phone("ring_forever")
    vid = await accept(service.store, settings, account, "keypad", "15551230302", code="1234",
                       callback_url=callbacks.url)
    assert (await event(callbacks))["type"] == "verification.ringing"
    ringing = await service.store.verifications.get(vid)  # as GET shows it
    assert status_of(ringing, time.time()) == ("ringing", None)
    status, answer = await v1.cancel(vid)
    assert status == 200 and (answer["status"], answer["failure_reason"]) == ("canceled",
                                                                               "canceled")
    await asyncio.to_thread(sipp.wait_for_event, "CANCELLED", 10)
    assert (await event(callbacks))["type"] == "verification.canceled"
    record = await done(service.store, vid)
    assert record.outcome.failure == "canceled" and not record.outcome.answered
    assert record.refunded == 0  # the call was placed
    status, again = await v1.cancel(vid)
    assert (status, again["status"]) == (200, "canceled")
    assert await deliveries_made(redis, "15551230302") == 2  # no second canceled


async def test_cancel_after_the_code_was_delivered(service, settings, account, v1, callbacks,
                                                   redis):
    vid = await accept(service.store, settings, account, "caller_id", TEST_NUMBER,
                       code="1234", callback_url=callbacks.url)
    await done(service.store, vid)
    status, answer = await v1.cancel(vid)
    assert (status, answer["status"], answer["refunded"]) == (200, "canceled", False)
    assert (await v1.check(vid, "1234"))[0] == 409
    assert (await v1.cancel(vid))[0] == 200
    types = [(await event(callbacks))["type"] for _ in range(3)]
    assert types == ["verification.ringing", "verification.answered", "verification.canceled"]
    assert await deliveries_made(redis, TEST_NUMBER) == 3


async def test_cancel_while_queued_refunds_and_is_never_dialled(settings, asterisk_clean,
                                                                callbacks, redis):
    async with Service(settings, {"api", "delivery"}) as front:  # no engine: the job waits
        account = await front.store.accounts.create("queued", 100)
        vid = await accept(front.store, settings, account, "voice", TEST_NUMBER, code="123456",
                           callback_url=callbacks.url)
        assert (await front.store.accounts.get(account.account_id)).credits == 100 - PRICE
        v1 = V1(settings, account.token)
        status, answer = await v1.cancel(vid)
        assert (status, answer["status"], answer["refunded"]) == (200, "canceled", True)
        assert (await front.store.accounts.get(account.account_id)).credits == 100
        canceled = await event(callbacks)
        assert (canceled["type"], canceled["data"]["refunded"]) == ("verification.canceled",
                                                                    True)
        assert (await v1.cancel(vid))[0] == 200
    async with Service(settings, {"engine"}):  # takes the job, and drops it
        await until(lambda: _queue_empty(redis))
    record = await redis.hgetall(f"cv:verification:{vid}")
    assert record[b"outcome_failure"] == b"canceled" and record[b"refunded"] == str(PRICE).encode()
    assert b"outcome_placed_at" not in record or record[b"outcome_placed_at"] == b"0.0"
    assert await deliveries_made(redis, TEST_NUMBER) == 1


async def _queue_empty(redis) -> bool:
    return await redis.xlen("cv:calls") == 0


async def test_checked_before_its_call_is_not_dialled(settings, asterisk_clean, redis,
                                                      callbacks):
    async with Service(settings, {"api"}) as front:
        account = await front.store.accounts.create("early", 100)
        vid = await accept(front.store, settings, account, "caller_id", TEST_NUMBER,
                           code="1234", callback_url=callbacks.url)
        status, answer = await V1(settings, account.token).check(vid, "1234")
        assert (status, answer["verification"]["status"]) == (200, "verified")
        store = front.store
        async with Service(settings, {"engine"}):
            await until(lambda: _queue_empty(redis))
        record = await store.verifications.get(vid)
    assert record.final == "verified" and record.outcome.placed_at == 0


async def test_refusals(settings, clean_redis):
    async with Service(settings, {"api"}) as front:
        store = front.store
        mine = await store.accounts.create("mine", 100)
        theirs = await store.accounts.create("theirs", 100)
        keypad = await accept(store, settings, mine, "keypad", TEST_NUMBER, code="1234")
        other = await accept(store, settings, theirs, "caller_id", "12025550101", code="1234")
        v1 = V1(settings, mine.token)
        status, problem = await v1.check(keypad, "1234")
        assert status == 409 and problem["type"] == "urn:callverify:problem:conflict"
        for body in ({"code": "12"}, {"code": 1234}, {}, ["1234"], {"code": "12345678901"}):
            status, problem = await v1.post(f"{keypad}/check", body)
            assert status == 400 and problem["errors"][0]["field"] in ("code", "body")
        assert (await v1.post(f"{keypad}/check", "not json"))[0] == 400
        # Too deep to read, or over 4 KiB (also a megabyte): a 400 naming the body.
        for body in (b"[" * 4000, {"code": "1234", "pad": "x" * 5000},
                     {"pad": "x" * 2_000_000}):
            status, problem = await v1.post(f"{keypad}/check", body)
            assert status == 400 and problem["errors"][0]["field"] == "body", body
        for path in (f"{other}/check", f"{other}/cancel", "ffffffffffff/cancel"):
            status, problem = await v1.post(path, {"code": "1234"})
            assert status == 404 and problem["type"] == "urn:callverify:problem:not_found"
        assert (await v1.post(f"{keypad}/cancel", token="nope"))[0] == 401
        assert (await store.verifications.get(other)).checks == 0


async def test_a_cancel_whose_message_was_lost_is_found_on_the_record(
        service, settings, account, callbacks, phone, redis):
    """The cancel's end is on the record; an engine that missed the message
    hangs up when it looks again (as it does each time its subscription holds)."""
    sipp = phone("ring_forever")
    vid = await accept(service.store, settings, account, "caller_id", "15551230303",
                       code="1234", callback_url=callbacks.url)
    assert (await event(callbacks))["type"] == "verification.ringing"
    await redis.hset(f"cv:verification:{vid}", mapping={"final": "canceled",
                                                        "final_reason": "canceled"})
    await service.engine.v1.look_again()
    await asyncio.to_thread(sipp.wait_for_event, "CANCELLED", 10)
    record = await done(service.store, vid)
    assert (record.final, record.outcome.failure) == ("canceled", "canceled")
    assert await deliveries_made(redis, "15551230303") == 1  # the verdict sent nothing


async def test_concurrent_checks_never_pass_the_limit(settings, clean_redis, redis, callbacks):
    async with Service(settings, {"api"}) as front:  # checks only: no call needed
        account = await front.store.accounts.create("racing", 100)
        vid = await accept(front.store, settings, account, "voice", TEST_NUMBER, code="538201",
                           callback_url=callbacks.url)
        v1 = V1(settings, account.token)
        answers = await asyncio.gather(*(v1.check(vid, "999999") for _ in range(8)))
        assert sorted(status for status, _ in answers) == [200] * 5 + [409] * 3
        assert [a["checks_left"] for s, a in answers if s == 200].count(0) == 1
        record = await front.store.verifications.get(vid)
    assert (record.checks, record.final, record.final_reason) == (5, "failed", "wrong_code")
    assert await deliveries_made(redis, TEST_NUMBER) == 1  # one verification.failed
