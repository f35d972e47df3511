"""Shared scaffolding for the API tests.

- `ServedApi` and `serve_api`: the real API (a `Service` with the api part)
  on a free port against the test Redis, with a client that can read what the
  engine would see there (accounts, credits, verifications, queued call jobs).
- `cli_environment` and `callverify`: the real `callverify` console script
  run against the test Redis.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import aiohttp
from redis.asyncio import Redis

from api.service import Service
from engine.keys import CALLS_STREAM, verification_key
from engine.settings import Settings
from engine.store import Store
from tests.conftest import free_port

CALLVERIFY = Path(sys.executable).parent / "callverify"
# The client limits are off unless a test sets them: tests send bursts from
# one address and one key, and call one number more than a day's cap allows.
NO_CLIENT_LIMITS = {"rate_per_key": "0", "rate_per_address": "0", "daily_cap_per_number": 0}


@dataclass
class ServedApi:
    """A client of one served API, with direct access to its Redis."""

    base_url: str
    http: aiohttp.ClientSession
    store: Store
    redis: Redis

    # Subclasses choose the credits a new account gets by default and which of
    # the new account's secrets `account()` returns ("api_key" or "token").
    DEFAULT_CREDITS: ClassVar[int]
    ACCOUNT_SECRET: ClassVar[str]

    async def account(self, credits: int | None = None) -> tuple[str, str]:
        new = await self.store.accounts.create(
            "acme", self.DEFAULT_CREDITS if credits is None else credits)
        return new.account_id, getattr(new, self.ACCOUNT_SECRET)

    async def credits(self, account_id: str) -> int:
        return (await self.store.accounts.get(account_id)).credits

    async def verifications(self) -> list[dict]:
        """Every verification hash, as stored (field names and values as text)."""
        keys = [k async for k in self.redis.scan_iter(match=verification_key("*"))]
        return [{name.decode(): value.decode() for name, value in (await self.redis.hgetall(k)).items()}
                for k in keys]

    async def queued(self) -> int:
        return await self.redis.xlen(CALLS_STREAM)


ClientT = TypeVar("ClientT", bound=ServedApi)


@contextlib.asynccontextmanager
async def serve_api(redis_url: str, client: type[ClientT],
                    **defaults: Any) -> AsyncIterator[Callable[..., Awaitable[ClientT]]]:
    """Yield `start(**changes)`: start the real API (a Service with the api
    part) on a free port with Settings changed by NO_CLIENT_LIMITS, `defaults`
    then `changes`, and return a `client` for it. Everything started is stopped on exit.

    The client's Redis is always `redis_url`, even if a change points the
    API's settings elsewhere."""
    services, sessions, clients = [], [], []

    async def start(**changes: Any) -> ClientT:
        port = free_port()
        settings = Settings().replace(**{
            "redis_url": redis_url, "api_listen": f"127.0.0.1:{port}", **NO_CLIENT_LIMITS,
            **defaults, **changes})
        services.append(service := Service(settings, {"api"}))
        await service.start()
        scheme = "https" if settings.tls_cert else "http"
        sessions.append(aiohttp.ClientSession())
        redis = Redis.from_url(redis_url)
        clients.append(redis)
        return client(f"{scheme}://127.0.0.1:{port}", sessions[-1], Store(redis), redis)

    try:
        yield start
    finally:
        for session in sessions:
            await session.close()
        for redis in clients:
            await redis.aclose()
        for service in services:
            await service.stop()


def cli_environment(redis_url: str, sandbox_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without CALLVERIFY_* settings, pointed at
    `redis_url` and `sandbox_dir`, plus `extra` variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVERIFY_")}
    env.update(CALLVERIFY_REDIS_URL=redis_url, CALLVERIFY_SANDBOX_DIR=str(sandbox_dir), **extra)
    assert CALLVERIFY.exists(), "install the project: .venv/bin/pip install -e '.[test]'"
    return env


def callverify(env: dict, *args: str, expect: int = 0) -> str:
    """Run the console script; assert its exit status; return stdout (or
    stderr when a failure is expected)."""
    done = subprocess.run([str(CALLVERIFY), *args], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == expect, done.stderr
    return done.stdout if expect == 0 else done.stderr
