"""Helpers for the /v1 lifecycle tests: a /v1 verification accepted as the
create route stores it, the check and cancel routes called over HTTP, and
the events the callback receiver got."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import aiohttp

from engine.store import Store
from engine.v1_status import FLOW_OF
from engine.verification import Verification

PRICE = 7


async def accept(store: Store, settings, account, channel: str, e164: str, *, code: str,
                 callback_url: str = "", window: float = 600.0) -> str:
    """A /v1 verification of `channel` to `e164`, queued for the engine; its id."""
    caller_id = channel == "caller_id"
    verification = Verification(
        flow=FLOW_OF[channel], api="v1", channel=channel,
        expires_at=time.time() + window if channel != "keypad" else 0.0,
        spoken_code=code if channel != "keypad" else "",
        caller_number=settings.cli_prefix + code if caller_id else "",
        caller_id="" if caller_id else settings.default_caller_id,
        callback_url=callback_url, money_scale=settings.money_scale)
    accepted = await store.verifications.accept(
        account.account_id, e164, verification, price=PRICE, flood_seconds=1,
        max_queue_seconds=60, code=code)
    assert accepted.result == "accepted", accepted
    return accepted.verification_id


class V1:
    """The check and cancel routes of one account."""

    def __init__(self, settings, token: str) -> None:
        host, port = settings.listen_host_port
        self.base = f"http://{host}:{port}/v1/verifications"
        self.token = token

    async def post(self, path: str, body: object = None, *,
                   token: str | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data = (body if isinstance(body, bytes) or body is None  # bytes: sent as they are
                else json.dumps(body))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base}/{path}", data=data, headers=headers) as resp:
                return resp.status, await resp.json(content_type=None)

    async def check(self, vid: str, code: str) -> tuple[int, dict]:
        return await self.post(f"{vid}/check", {"code": code})

    async def cancel(self, vid: str) -> tuple[int, dict]:
        return await self.post(f"{vid}/cancel")


async def event(callbacks, timeout: float = 40) -> dict:
    """The next event POSTed to the receiver."""
    received = await callbacks.next(timeout=timeout)
    assert received["method"] == "POST"
    return json.loads(received["body"])


async def until(found: Callable[[], object], timeout: float = 30) -> object:
    """Wait until `found()` (an awaitable's result) is truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await found()  # type: ignore[misc]
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def done(store: Store, vid: str) -> Verification:
    """The record once the call's verdict is stored."""
    async def verdict() -> Verification | None:
        found = await store.verifications.get(vid)
        return found if found is not None and found.status == "done" else None
    return await until(verdict)  # type: ignore[return-value]


async def deliveries_made(redis, e164: str) -> int:
    """How many deliveries were made for `e164` (sent ones included: the
    number's index keeps their keys)."""
    keys = await redis.smembers(f"cv:number:{e164}")
    return sum(key.startswith(b"cv:delivery:") for key in keys)
