"""The real `callverify` console script against the test Redis and its own API."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis

from tests.conftest import free_port
from tests.integration.api_harness import CALLVERIFY, callverify, cli_environment


@pytest.fixture
def cli_env(clean_redis, tmp_path):
    return cli_environment(clean_redis, tmp_path,
                           CALLVERIFY_API_LISTEN=f"127.0.0.1:{free_port()}")


def start_api(env: dict, *args: str) -> tuple[subprocess.Popen, str]:
    """`callverify api [args]` as a real process, once /healthz answers."""
    proc = subprocess.Popen([str(CALLVERIFY), "api", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = "http://" + env["CALLVERIFY_API_LISTEN"]
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as resp:
                assert resp.read() == b"ok"
                return proc, base
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("callverify api did not start: " + proc.stdout.read())
            time.sleep(0.1)


@pytest.fixture
def api_url(cli_env):
    """`callverify api`; stopped with SIGTERM, which must exit 0."""
    proc, base = start_api(cli_env)
    yield base
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, proc.stdout.read()


def worker_pids(proc: subprocess.Popen) -> list[int]:
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as fh:
        return [int(pid) for pid in fh.read().split()]


def listeners(port: int) -> int:
    """Listening TCP sockets on `port` (from /proc/net/tcp: state 0A is LISTEN)."""
    with open("/proc/net/tcp") as fh:
        rows = [line.split() for line in fh.readlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_workers_share_one_port_and_stop_together(cli_env):
    proc, base = start_api(cli_env, "--workers", "2")
    try:
        time.sleep(0.5)  # the second worker's listener
        workers = worker_pids(proc)
        assert len(workers) == 2
        api_key = json.loads(callverify(cli_env, "account", "create", "--name", "w",
                                        "--credits", "20"))["api_key"]
        answers = [reverse_verify(base, api_key, f"55512300{n:02d}") for n in range(20)]
        assert answers == ["0"] * 20
        # Every worker holds its own listening socket on the port (SO_REUSEPORT).
        port = int(cli_env["CALLVERIFY_API_LISTEN"].rsplit(":", 1)[1])
        assert listeners(port) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, proc.stdout.read()
    assert not any(alive(pid) for pid in workers)


def test_a_worker_dying_stops_the_others_and_fails(cli_env):
    proc, _ = start_api(cli_env, "--workers", "2")
    time.sleep(0.5)
    first, second = worker_pids(proc)
    subprocess.run(["kill", "-9", str(first)], check=True)
    try:
        assert proc.wait(10) == 1
    finally:
        proc.kill()
    time.sleep(0.2)
    assert not alive(second)


def reverse_verify(base: str, api_key: str, phone_number: str) -> str:
    query = urllib.parse.urlencode({
        "api_key": api_key, "phone_number": phone_number, "country_code": "1",
        "code": "4345", "callback_url": "http://site.example/cb"})
    with urllib.request.urlopen(f"{base}/api/reverse_verify/?{query}", timeout=10) as resp:
        return resp.read().decode()


def test_account_lifecycle_through_the_api(cli_env, api_url):
    created = json.loads(callverify(cli_env, "account", "create", "--name", "acme", "--credits", "1"))
    assert set(created) == {"account_id", "api_key", "token"}
    account_id, api_key = created["account_id"], created["api_key"]
    stored = redis.Redis.from_url(cli_env["CALLVERIFY_REDIS_URL"])
    everything = repr([(k, stored.dump(k)) for k in stored.scan_iter()])
    assert api_key not in everything and created["token"] not in everything

    assert reverse_verify(api_url, api_key, "5551230001") == "0"
    callverify(cli_env, "account", "disable", account_id)
    assert reverse_verify(api_url, api_key, "5551230002") == "5"
    callverify(cli_env, "account", "enable", account_id)
    assert reverse_verify(api_url, api_key, "5551230002") == "2"
    credited = json.loads(callverify(cli_env, "account", "credit", account_id, "3"))
    assert credited["credits"] == 3
    assert reverse_verify(api_url, api_key, "5551230002") == "0"

    shown = json.loads(callverify(cli_env, "account", "show", account_id))
    assert shown.pop("spent_this_hour") in (1, 2)  # 2 unless a clock hour began in between
    assert shown == {"account_id": account_id, "name": "acme", "credits": 2, "disabled": False,
                     "spend_limit": None}
    assert stored.xlen("cv:calls") == 2
    stored.close()


def test_do_not_call_list(cli_env, api_url):
    api_key = json.loads(callverify(cli_env, "account", "create", "--name", "a", "--credits", "5"))["api_key"]
    assert callverify(cli_env, "dnc", "add", "+15551230003").strip() == "15551230003"
    callverify(cli_env, "dnc", "add", "447911123456")
    assert callverify(cli_env, "dnc", "list").split() == ["15551230003", "447911123456"]
    assert reverse_verify(api_url, api_key, "5551230003") == "3"
    callverify(cli_env, "dnc", "remove", "15551230003")
    assert callverify(cli_env, "dnc", "list").split() == ["447911123456"]
    assert reverse_verify(api_url, api_key, "5551230003") == "0"


@pytest.mark.parametrize("args", [
    ("account", "show", "999"), ("account", "credit", "999", "5"),
    ("account", "disable", "999"), ("account", "enable", "999")])
def test_unknown_account_is_a_clear_error(cli_env, args):
    assert "unknown account '999'" in callverify(cli_env, *args, expect=2)


def test_dnc_rejects_what_is_not_e164(cli_env):
    for number in ["abc", "555-1234", "+", "0441234567", "1" * 16]:
        assert "not an E.164 number" in callverify(cli_env, "dnc", "add", number, expect=2)
    assert callverify(cli_env, "dnc", "list").strip() == ""


def test_settings_are_printed_with_secrets_masked(cli_env):
    env = {**cli_env, "CALLVERIFY_ARI_PASSWORD": "hunter2-secret"}
    shown = callverify(env, "settings")
    assert cli_env["CALLVERIFY_REDIS_URL"] in shown
    assert "hunter2-secret" not in shown and "ari_password='***'" in shown


def test_redis_down_is_reported(cli_env):
    env = {**cli_env, "CALLVERIFY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    assert "Redis not reachable" in callverify(env, "dnc", "list", expect=1)


def test_the_service_logs_one_masked_line_per_request(cli_env):
    """The real process's log (its own output path, not pytest's capture)."""
    proc, base = start_api(cli_env)
    try:
        api_key = json.loads(callverify(cli_env, "account", "create", "--name", "l",
                                        "--credits", "5"))["api_key"]
        answers = [reverse_verify(base, api_key, number)
                   for number in ("5551230001", "5551230001", "555123")]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert answers == ["0", "6", "4"]
    output = proc.stdout.read()
    lines = [line for line in output.splitlines() if "api.reverse_verify" in line]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert len(lines) == 3, output
    account = r"account=1[0-9]{5} client=127\.0\.0\.1"
    assert re.fullmatch(stamp + r" INFO api\.reverse_verify: reverse_verify " + account
                        + r" number=\*\*\*0001 result=0 verification=[0-9a-f]{12}", lines[0])
    assert re.search(account + r" number=\*\*\*0001 result=6 verification=-$", lines[1])
    assert " account=- client=127.0.0.1 " in lines[2]
    assert lines[2].endswith(" result=4 verification=-") and "555123" not in lines[2]
    assert api_key not in output and "4345" not in output
