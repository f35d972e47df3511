"""The egress guard at send time: a real Deliverer, a real Redis and real
aiohttp listeners on 127.0.0.1 and [::1] standing in for what an attacker
would aim a callback at (engine/egress.py, engine/outbound.py)."""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from redis.asyncio import Redis

from engine import delivery as delivery_module
from engine import records
from engine.delivery import DEAD, DUE, WAKE, Deliverer, delivery_key
from engine.delivery_record import new_delivery
from engine.keys import CALLS_GROUP, CALLS_STREAM, verification_key
from engine.outcome import CallOutcome
from engine.store import Store
from engine.verification import Verification

SECRET = "s3cr3t-egress"
PARAMS = {"phone_number": "5551234567", "country_code": "1", "secret": SECRET}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Listener:
    """A real HTTP server on one loopback address; it records every request."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.hits: list[str] = []
        self.answer: Handler = self._ok
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            self.port = s.getsockname()[1]
        self._runner: web.AppRunner | None = None

    def url(self, host: str | None = None, path: str = "/cb") -> str:
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"http://{host}:{self.port}{path}"

    @staticmethod
    async def _ok(request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path_qs)
        return await self.answer(request)

    async def start(self) -> Listener:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)  # its lines would carry the query
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def v4():
    listener = await Listener("127.0.0.1").start()
    yield listener
    await listener.stop()


@pytest.fixture
async def v6():
    listener = await Listener("::1").start()
    yield listener
    await listener.stop()


@asynccontextmanager
async def delivering(redis: Redis, allow: tuple[str, ...] = (),
                     timeout: float = 2) -> AsyncIterator[Deliverer]:
    worker = Deliverer(redis, timeout=timeout, backoff_base=30, give_up_seconds=3600,
                       egress_allow=allow)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 15)


async def queue(redis: Redis, delivery: dict) -> str:
    """What the verdict script does for each delivery of a verification."""
    await redis.hset(delivery_key(delivery["id"]), mapping=delivery["fields"])
    await redis.zadd(DUE, {delivery["id"]: delivery["due"]})
    await redis.rpush(WAKE, delivery["id"])
    return delivery["id"]


async def record(redis: Redis, delivery_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in (await redis.hgetall(delivery_key(delivery_id))).items()}


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def all_dead(redis: Redis, ids: list[str]) -> None:
    async def dead() -> bool:
        return all([await redis.zscore(DEAD, i) is not None for i in ids])
    await until(dead)


async def test_nothing_allowed_nothing_reaches_a_local_listener(redis, v4, v6, caplog):
    caplog.set_level(logging.INFO)
    cases = {
        v4.url(): "egress refused: 127.0.0.1 is loopback",
        v6.url(): "egress refused: ::1 is loopback",
        v4.url("[::ffff:127.0.0.1]"): "egress refused: ::ffff:7f00:1 is IPv4-mapped",
        v4.url("[64:ff9b::7f00:1]"): "egress refused: 64:ff9b::7f00:1 is NAT64",
        v4.url("[2002:7f00:1::1]"): "egress refused: 2002:7f00:1::1 is 6to4 (127.0.0.1 is loopback)",
        v4.url("localhost"): "egress refused: localhost resolves only to refused addresses: "
                             "127.0.0.1 is loopback",
        v4.url("0"): "egress refused: the host is not a valid host name",
        v4.url("2130706433"): "egress refused: the host is not a valid host name",
        v4.url("127.1"): "egress refused: the host is not a valid host name",
        v4.url("0x7f.0.0.1"): "egress refused: the host is not a valid host name",
        v4.url("a%5Cb"): "egress refused: the host is not a valid host name",
    }
    async with delivering(redis):
        ids = {await queue(redis, new_delivery("GET", url, params=PARAMS, kind="callback")): why
               for url, why in cases.items()}
        ids[await queue(redis, new_delivery("POST", v6.url(), payload={"q931_status": 16},
                                            kind="webhook"))] = "egress refused: ::1 is loopback"
        await all_dead(redis, list(ids))
    assert v4.hits == [] and v6.hits == []
    assert await redis.zcard(DUE) == 0
    for delivery_id, why in ids.items():
        stored = await record(redis, delivery_id)
        assert stored["last_error"].startswith(why), stored["last_error"]
        assert stored["attempts"] == "0"  # never sent, and not retried
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "moved to the dead list" in logged and SECRET not in logged


async def test_a_redirect_is_not_followed(redis, v4, v6):
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(v6.url())
    v4.answer = redirect
    async with delivering(redis, allow=("127.0.0.1/32",)):
        delivery_id = await queue(redis, new_delivery("GET", v4.url(), params=PARAMS))
        await until(lambda: _attempted(redis, delivery_id))
        await asyncio.sleep(0.5)
    assert len(v4.hits) == 1 and v6.hits == []
    stored = await record(redis, delivery_id)
    assert stored["last_error"] == "HTTP 302"
    assert await redis.zscore(DUE, delivery_id) > time.time() + 20  # retried later


async def _attempted(redis: Redis, delivery_id: str) -> bool:
    return (await record(redis, delivery_id)).get("attempts") == "1"


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed (about 1 MB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(1024)), packer.flush()])


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


class PeakRss:
    """The process's peak resident memory while it runs, in KiB: the kernel's
    high-water mark (VmHWM, reset at the start), and a thread sampling VmRSS
    for a kernel that cannot reset it. A thread, as the event loop may be
    held through a whole decompression."""

    def __enter__(self) -> PeakRss:
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")  # resets VmHWM to VmRSS
            self.resettable = True
        except OSError:
            self.resettable = False
        self.before = self.peak = status_kib("VmRSS")
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, status_kib("VmRSS"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sampler.join()
        if self.resettable:
            self.peak = max(self.peak, status_kib("VmHWM"))

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.before) / 1024


async def test_a_gzip_bomb_reply_leaves_memory_flat(redis, v4, gzip_bomb):
    async def bomb(request: web.Request) -> web.StreamResponse:
        return web.Response(body=gzip_bomb, headers={"Content-Encoding": "gzip",
                                                    "Content-Type": "text/plain"})
    v4.answer = bomb
    async with delivering(redis, allow=("127.0.0.1/32",), timeout=20):
        with PeakRss() as memory:
            delivery_id = await queue(redis, new_delivery("GET", v4.url(), params=PARAMS))
            await until(lambda: _gone(redis, delivery_id), timeout=20)  # sent: done, forgotten
    assert v4.hits and await redis.zcard(DUE) == 0
    assert memory.growth_mib < 50, f"RSS grew by {memory.growth_mib:.0f} MiB"


async def test_an_endless_reply_is_cut_after_its_first_bytes(redis, v4):
    async def endless(request: web.Request) -> web.StreamResponse:
        reply = web.StreamResponse()
        await reply.prepare(request)
        while True:  # until the deliverer hangs up
            await reply.write(b"x" * 65536)
    v4.answer = endless
    async with delivering(redis, allow=("127.0.0.1/32",), timeout=30):
        started = time.monotonic()
        delivery_id = await queue(redis, new_delivery("GET", v4.url(), params=PARAMS))
        await until(lambda: _gone(redis, delivery_id), timeout=10)
    assert time.monotonic() - started < 10  # not left to the 30 s timeout


async def _gone(redis: Redis, delivery_id: str) -> bool:
    return not await redis.exists(delivery_key(delivery_id))


async def _one_dead(redis: Redis) -> bool:
    return await redis.zcard(DEAD) == 1


def matched() -> CallOutcome:
    return CallOutcome(answered=True, matched=True, attempts=1, digits_count=4)


@pytest.mark.parametrize("handed_over", [True, False])
@pytest.mark.parametrize("callback_url", ["http://ex\u00adample.com/cb", "http://a\\b/cb"])
async def test_a_callback_url_that_cannot_be_built_still_gets_its_verdict(
        redis, callback_url, handed_over):
    await redis.xgroup_create(CALLS_STREAM, CALLS_GROUP, id="0", mkstream=True)
    await redis.xadd(CALLS_STREAM, {"verification_id": "v1"})
    (_, [(job_id, _)]), = await redis.xreadgroup(CALLS_GROUP, "e", {CALLS_STREAM: ">"})
    fields = {"id": "v1", "flow": "reverse_verify", "status": "calling", "account_id": "100001",
              "phone_number": "5551234567", "country_code": "1", "secret": SECRET,
              "callback_url": callback_url}
    await redis.hset(verification_key("v1"), mapping=fields)
    async with delivering(redis) as courier:
        while not courier.taking:
            await asyncio.sleep(0.01)
        assert await records.give_verdict(Store(redis), Verification.from_hash(fields), matched(),
                                          job_id=job_id.decode(),
                                          courier=courier if handed_over else None)
        assert (await redis.xpending(CALLS_STREAM, CALLS_GROUP))["pending"] == 0
        await until(lambda: _one_dead(redis))
    (delivery_id,) = [i.decode() for i in await redis.zrange(DEAD, 0, -1)]
    assert (await redis.hgetall(verification_key("v1")))[b"status"] == b"done"
    stored = await record(redis, delivery_id)
    assert stored["last_error"] == "egress refused: the URL cannot be built (ValueError)"
    assert await redis.zcard(DUE) == 0


async def test_an_unexpected_failure_counts_as_a_failed_attempt(redis, v4, monkeypatch, caplog):
    async def broken(http, allow, method, url, **kwargs):
        raise RuntimeError(f"a bug that quotes {url}")
    monkeypatch.setattr(delivery_module, "send", broken)
    caplog.set_level(logging.INFO)
    async with delivering(redis, allow=("127.0.0.1/32",)):
        delivery_id = await queue(redis, new_delivery("GET", v4.url(), params=PARAMS))
        await until(lambda: _attempted(redis, delivery_id))
    stored = await record(redis, delivery_id)
    assert stored["last_error"] == "unexpected RuntimeError"
    assert await redis.zscore(DUE, delivery_id) > time.time() + 20  # retried later, not leased
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "unexpected RuntimeError" in logged and SECRET not in logged


async def test_no_failure_logs_or_stores_the_query(redis, v4, caplog):
    """Each way a delivery fails, sent with `secret` in its query: no log line
    and no stored last_error carries it."""
    async def loop_back(request: web.Request) -> web.StreamResponse:
        if request.path == "/loop":  # a redirect loop, that a follower ends in an error
            raise web.HTTPFound(request.path_qs)
        if request.path == "/slow":
            await asyncio.sleep(5)
        return web.Response(status=500)
    v4.answer = loop_back
    closed = Listener("127.0.0.1")  # never started: nothing listens on its port
    caplog.set_level(logging.DEBUG)
    urls = [v4.url(path="/loop"), v4.url(path="/500"), v4.url(path="/slow"), closed.url(),
            v4.url("localhost"), "http://a%5Cb/cb", "http://ex\u00adample.com/cb",
            "http://no-such-host.invalid/cb"]
    async with delivering(redis, allow=("127.0.0.1/32",), timeout=1):
        ids = [await queue(redis, new_delivery("GET", url, params=PARAMS, kind="callback"))
               for url in urls]
        for delivery_id in ids:
            await until(lambda i=delivery_id: _failed(redis, i))
    errors = [(await record(redis, i))["last_error"] for i in ids]
    assert errors[:3] == ["HTTP 302", "HTTP 500", "timed out"], errors
    assert errors[3].startswith("ClientConnectorError: Connect call failed"), errors
    assert [e.split(":")[0] for e in errors[4:]] == ["HTTP 500"] + ["egress refused"] * 2 + [
        "ClientConnectorDNSError"], errors
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for text in [*errors, logged]:
        assert SECRET not in text and "secret=" not in text, text
    assert "callback to 127.0.0.1" in logged  # the logs name the host instead


async def _failed(redis: Redis, delivery_id: str) -> bool:
    return bool((await record(redis, delivery_id)).get("last_error"))
