"""Real components for integration tests: the Asterisk sandbox, Redis, sipp
phones, the callverify service in-process, and a callback receiver.

The sandbox instance is `test` (ARI 8188, SIP 5160, trunk sip:127.0.0.1:5070)
unless CALLVERIFY_TEST_INSTANCE names another running one. It is started if
it is not running, and stopped after the session if this session started it.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import redis as sync_redis
from aiohttp import web
from redis.asyncio import Redis as AsyncRedis

from api.service import Service
from engine.settings import load_settings, sandbox_state
from tests.conftest import free_port
from tests.integration.api_harness import NO_CLIENT_LIMITS, callverify, cli_environment
from tests.phones.phone import SipPhone

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = [sys.executable, str(ROOT / "asterisk" / "sandbox.py")]
APP = "cvtest"
# The callback receivers listen on 127.0.0.1: the egress guard must let them in.
LOCAL = ("127.0.0.0/8",)


def _running(instance: str) -> bool:
    return subprocess.run([*SANDBOX, "status", "--instance", instance],
                          capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def sandbox():
    instance = os.environ.get("CALLVERIFY_TEST_INSTANCE", "test")
    started = not _running(instance)
    if started:
        subprocess.run([*SANDBOX, "start", "--instance", instance], check=True, timeout=900)
    state = sandbox_state(instance)
    if not state.get("ari_password"):
        raise RuntimeError(f"sandbox instance {instance} has no state file")
    yield state
    if started:
        subprocess.run([*SANDBOX, "stop", "--instance", instance], timeout=60)


@pytest.fixture(scope="session")
def trunk_port(sandbox) -> int:
    return int(sandbox["trunk_uri"].rsplit(":", 1)[1])


@pytest.fixture
def settings(clean_redis, sandbox):
    return load_settings(
        env={}, redis_url=clean_redis, ari_url=sandbox["ari_url"], ari_user=sandbox["ari_user"],
        ari_password=sandbox["ari_password"], ari_app=APP, api_listen=f"127.0.0.1:{free_port()}",
        metrics_listen=f"127.0.0.1:{free_port()}",
        ring_timeout=6, first_digit_timeout=4, inter_digit_timeout=3,
        delivery_backoff_base=0.2, delivery_backoff_max=1, claim_idle_seconds=5,
        consumer_name="pytest-engine", egress_allow=LOCAL, **NO_CLIENT_LIMITS)


@pytest.fixture
async def service(settings, asterisk_clean):
    async with Service(settings) as svc:
        yield svc


class CallbackSink:
    """An HTTP server standing in for the customer's site."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue = asyncio.Queue()
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.hold: asyncio.Event | None = None  # when set: answer only once it is set
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/callback"
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.statuses.pop(0) if self.statuses else 200
        await self.requests.put({"time": time.time(), "method": request.method,
                                 "query": dict(request.query), "body": body, "status": status})
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=status, text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/callback", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def next(self, timeout: float = 30) -> dict:
        return await asyncio.wait_for(self.requests.get(), timeout)


@pytest.fixture
async def callbacks():
    sink = CallbackSink()
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture
def phone(trunk_port):
    """Start a sipp phone on the trunk's port: phone("answer_dtmf", keys="1234#")."""
    phones: list[SipPhone] = []

    def start(scenario: str, **kwargs) -> SipPhone:
        p = SipPhone(scenario, port=trunk_port, **kwargs)
        phones.append(p)
        return p.start()

    yield start
    for p in phones:
        p.stop()
        p.cleanup()


class Api:
    def __init__(self, base: str) -> None:
        self.base = base

    async def reverse_verify(self, **params) -> str:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.base}/api/reverse_verify/", params=params) as resp:
                assert resp.status == 200
                return await resp.text()


@pytest.fixture
def api(settings) -> Api:
    host, port = settings.listen_host_port
    return Api(f"http://{host}:{port}")


@pytest.fixture
async def account(service):
    created = await service.store.accounts.create("test", 100)
    return created


async def ari_channels(state: dict) -> list[dict]:
    auth = {"Authorization": aiohttp.encode_basic_auth(state["ari_user"], state["ari_password"])}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.get(f"{state['ari_url']}/ari/channels") as resp:
            return await resp.json()


@pytest.fixture
async def asterisk_clean(sandbox, clean_redis):
    """After each test: Asterisk has no channels and no job is pending."""
    yield
    deadline = time.monotonic() + 10
    while (channels := await ari_channels(sandbox)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert channels == [], f"channels left on Asterisk: {[c['id'] for c in channels]}"
    client = sync_redis.Redis.from_url(clean_redis)
    try:
        if client.exists("cv:calls"):
            pending = client.xpending("cv:calls", "engines")["pending"] if client.xinfo_groups("cv:calls") else 0
            assert pending == 0, f"{pending} call job(s) still pending"
            assert client.xlen("cv:calls") == 0, "call jobs left in the queue"
    finally:
        client.close()


def outcome_of(redis_url: str, verification_id: str) -> dict[str, str]:
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return client.hgetall(f"cv:verification:{verification_id}")
    finally:
        client.close()


def only_verification(redis_url: str) -> dict[str, str]:
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = client.keys("cv:verification:*")
        assert len(keys) == 1, keys
        return client.hgetall(keys[0])
    finally:
        client.close()


def record_figure(name: str, value: float) -> None:
    """Append a measured figure (e.g. a latency) for the run's report."""
    path = Path(os.environ.get("CALLVERIFY_FIGURES", "/tmp/callverify-figures.jsonl"))
    with path.open("a") as fh:
        fh.write(json.dumps({"name": name, "value": value, "at": time.time()}) + "\n")


@pytest.fixture
async def redis(clean_redis):
    """An asyncio client of the test Redis."""
    client = AsyncRedis.from_url(clean_redis)
    yield client
    await client.aclose()


@pytest.fixture
def cli_env(clean_redis, tmp_path) -> dict[str, str]:
    """The environment the real `callverify` console script runs in (api_harness)."""
    return cli_environment(clean_redis, tmp_path)


@pytest.fixture
def account_id(cli_env) -> str:
    """A new account, made through the console script."""
    return json.loads(callverify(cli_env, "account", "create", "--name", "acme"))["account_id"]
