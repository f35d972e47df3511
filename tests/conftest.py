"""Shared fixtures: a project-owned Redis for the whole session.

Integration fixtures (Asterisk sandbox, service, phones) live in
tests/integration/conftest.py. Nothing here skips: a missing component is an
error, and with CALLVERIFY_NO_SKIP=1 (set by .ci/run) any skipped test fails
the run.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis
import uvloop

# The shared API test scaffolding asserts (exit status of the console script,
# installed project): have pytest explain those failures as it does in tests.
# Registered here, before tests/integration/conftest.py imports it.
pytest.register_assert_rewrite("tests.integration.api_harness")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_asyncio_loop_factories(config, item):
    """Tests run on the loop the services run on (engine/loop.py: uvloop)."""
    return {"uvloop": uvloop.new_event_loop}


def start_redis_server(workdir: str, *options: str) -> tuple[subprocess.Popen, int]:
    """A redis-server on a free port of 127.0.0.1 with its data in `workdir`,
    once it answers; RuntimeError if it does not start."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed: run `make deps` (Debian package redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir, *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return proc, port
            except redis.ConnectionError as exc:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError("redis-server did not start") from exc
                time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url():
    workdir = tempfile.mkdtemp(prefix="cv-redis-")
    proc, port = start_redis_server(workdir, "--save", "", "--appendonly", "no",
                                    "--protected-mode", "yes")
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def clean_redis(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.close()


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CALLVERIFY_NO_SKIP") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        session.exitstatus = 1
        if reporter:
            reporter.write_line(f"CALLVERIFY_NO_SKIP=1: {skipped} skipped test(s) fail this run", red=True)
