"""The Redis callverify runs on: the persistence warning at start, against
real redis-servers configured each way, and `make redis` (scripts/own-redis.sh)
starting the project-owned Redis with a generated password that the console
script then finds by itself. Every redis-server here is the test's own, on a
free port, in a temporary directory."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from api.redis_persistence import persistence_problem
from tests.conftest import free_port, start_redis_server
from tests.integration.api_harness import callverify, cli_environment
from tests.integration.test_api_cli import start_api

ROOT = Path(__file__).resolve().parents[2]
NO_DATA_ON_DISK = "keeps no data on disk"
CANNOT_TELL = "cannot be read (CONFIG refused)"


class RedisServers:
    """redis-servers started with the given options, each stopped at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []

    def start(self, *options: str) -> str:
        data = Path(tempfile.mkdtemp(prefix="redis-", dir=self.workdir))
        proc, port = start_redis_server(str(data), *options)
        self.procs.append(proc)
        return f"redis://127.0.0.1:{port}/0"

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def servers(tmp_path) -> Iterator[RedisServers]:
    started = RedisServers(tmp_path)
    yield started
    started.stop()


NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
NO_CONFIG = ("--rename-command", "CONFIG", "")


@pytest.mark.parametrize("options, problem", [
    (NO_PERSISTENCE, NO_DATA_ON_DISK),
    (("--save", "", "--appendonly", "yes"), None),
    (("--save", "3600 1", "--appendonly", "no"), None),
    ((*NO_PERSISTENCE, *NO_CONFIG), CANNOT_TELL),
    (("--save", "", "--appendonly", "yes", *NO_CONFIG), None),
], ids=["none", "aof", "rdb", "no-config-no-aof", "no-config-aof"])
async def test_what_the_persistence_check_finds(servers, options, problem):
    client = AsyncRedis.from_url(servers.start(*options))
    try:
        found = await persistence_problem(client)
    finally:
        await client.aclose()
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def served_log(env: dict, *args: str) -> str:
    """`callverify api [args]` started and stopped; its output."""
    proc, _ = start_api(env, *args)
    time.sleep(1)  # the check runs beside the start
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    return proc.stdout.read()


def api_env(url: str, tmp_path: Path) -> dict[str, str]:
    return cli_environment(url, tmp_path, CALLVERIFY_API_LISTEN=f"127.0.0.1:{free_port()}")


def test_the_service_warns_once_when_redis_keeps_nothing_on_disk(servers, tmp_path):
    url = servers.start(*NO_PERSISTENCE)
    output = served_log(api_env(url, tmp_path), "--workers", "2")
    warnings = [line for line in output.splitlines() if NO_DATA_ON_DISK in line]
    assert len(warnings) == 1, output
    assert " WARNING api.redis_persistence: Redis at " + url in warnings[0]
    assert "appendonly yes" in warnings[0] and "docs/operations.md" in warnings[0]


def test_the_service_does_not_warn_when_redis_appends_to_its_aof(servers, tmp_path):
    url = servers.start("--save", "", "--appendonly", "yes")
    output = served_log(api_env(url, tmp_path))
    assert "callverify started" in output and "api.redis_persistence" not in output


# -- make redis: the project-owned Redis -----------------------------------

def make_redis(redis_dir: Path, port: int, *variables: str, expect: int = 0, **env: str) -> str:
    """`make redis` with REDIS_DIR, REDIS_PORT and other `variables` (NAME=value)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLVERIFY_")}
    done = subprocess.run(["make", "-s", "redis", f"REDIS_DIR={redis_dir}", f"REDIS_PORT={port}",
                           *variables], cwd=ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == expect, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def own_redis(tmp_path) -> Iterator[tuple[Path, int]]:
    """Where `make redis` keeps the project-owned Redis, and its port; the
    redis-server it starts is shut down at the end."""
    redis_dir, port = tmp_path / "redis", free_port()
    yield redis_dir, port
    pid_file = redis_dir / "redis.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except ProcessLookupError:
            pass


def owner_only(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_make_redis_starts_a_password_protected_redis_the_cli_finds(own_redis, tmp_path):
    redis_dir, port = own_redis
    assert "started project-owned redis-server" in make_redis(redis_dir, port)
    password = (redis_dir / "password").read_text()
    assert len(password) == 48
    url = (redis_dir / "url").read_text().strip()
    assert url == f"redis://:{password}@127.0.0.1:{port}/0"
    for path in (redis_dir, redis_dir / "password", redis_dir / "url", redis_dir / "redis.conf"):
        assert owner_only(path), path
    # The password is on no command line.
    pid = int((redis_dir / "redis.pid").read_text())
    assert password not in Path(f"/proc/{pid}/cmdline").read_text()
    # Without it, Redis answers nothing; with it: AOF, fsync every second.
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    owned = redis.Redis.from_url(url)
    assert owned.config_get("appendonly") == {"appendonly": "yes"}
    assert owned.config_get("appendfsync") == {"appendfsync": "everysec"}
    # The console script finds it without CALLVERIFY_REDIS_URL.
    env = {k: v for k, v in cli_environment("unused", tmp_path).items()
           if k != "CALLVERIFY_REDIS_URL"}
    env["CALLVERIFY_REDIS_DIR"] = str(redis_dir)
    shown = callverify(env, "settings")
    assert f"redis_url='redis://:***@127.0.0.1:{port}/0'" in shown and password not in shown
    account_id = json.loads(callverify(env, "account", "create", "--name", "a"))["account_id"]
    assert owned.exists(f"cv:account:{account_id}")
    # Again: the same Redis, the same password; asked for it, fsync on every write.
    assert "already running" in make_redis(redis_dir, port, "REDIS_APPENDFSYNC=always")
    assert (redis_dir / "password").read_text() == password
    assert owned.exists(f"cv:account:{account_id}")
    assert owned.config_get("appendfsync") == {"appendfsync": "always"}
    owned.close()


def test_make_redis_refuses_an_unknown_fsync_policy(own_redis):
    redis_dir, port = own_redis
    refused = make_redis(redis_dir, port, "REDIS_APPENDFSYNC=sometimes", expect=2)
    assert "REDIS_APPENDFSYNC must be always, everysec or no: sometimes" in refused
    assert not redis_dir.exists()


def test_make_redis_restarts_its_own_redis_from_before_passwords(own_redis):
    """Its data directory tells it apart; its data (AOF) stays."""
    redis_dir, port = own_redis
    redis_dir.mkdir(mode=0o700)
    subprocess.run(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir",
                    str(redis_dir), "--appendonly", "yes", "--daemonize", "yes",
                    "--pidfile", str(redis_dir / "redis.pid"),
                    "--logfile", str(redis_dir / "redis.log")], check=True)
    old = redis.Redis(port=port)
    for _ in range(50):
        try:
            old.set("kept", "1")
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    said = make_redis(redis_dir, port, "REDIS_APPENDFSYNC=always")
    assert "restarting the project-owned redis-server with a password" in said
    owned = redis.Redis.from_url((redis_dir / "url").read_text().strip())
    assert owned.get("kept") == b"1"
    assert owned.config_get("appendfsync") == {"appendfsync": "always"}
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    owned.close()


def test_make_redis_leaves_another_redis_on_its_port_alone(own_redis, clean_redis):
    redis_dir, _ = own_redis
    port = int(clean_redis.rsplit(":", 1)[1].split("/")[0])
    refused = make_redis(redis_dir, port, expect=2)  # make: the recipe failed
    assert f"127.0.0.1:{port} is taken by a Redis that make run did not start" in refused
    assert f"CALLVERIFY_REDIS_URL=redis://127.0.0.1:{port}/0" in refused
    assert not (redis_dir / "url").exists()
    redis.Redis.from_url(clean_redis).ping()  # still there, still without a password


def test_make_redis_uses_the_url_given_as_it_is(own_redis, clean_redis):
    redis_dir, port = own_redis
    said = make_redis(redis_dir, port, CALLVERIFY_REDIS_URL=clean_redis)
    assert said.strip() == "redis: using CALLVERIFY_REDIS_URL as it is"
    assert not redis_dir.exists()
