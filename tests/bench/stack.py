"""The real components the benchmark drives, each its own process.

The Asterisk sandbox instance ``bench`` (ARI 8388, SIP 5360, AMI 5338, RTP
25000-29999, trunk sip:127.0.0.1:5190) so the ``test`` and ``dev`` instances
are never touched, a redis-server on a free port, and the callverify service
(``callverify run``, or ``callverify api`` alone) so /proc gives its CPU.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from engine.priority import set_cpu_nice

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SANDBOX = [sys.executable, str(ROOT / "asterisk" / "sandbox.py")]
INSTANCE = "bench"
PHONE_PORT = 5190
SANDBOX_PORTS = ["--http-port", "8388", "--sip-port", "5360", "--ami-port", "5338",
                 "--rtp-start", "25000", "--rtp-end", "29999",
                 "--trunk-uri", f"sip:127.0.0.1:{PHONE_PORT}"]
ARI_APP = "cvbench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not ready after {timeout:.0f} s")
        time.sleep(0.05)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout`; only the process we started."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@dataclass
class Sandbox:
    """The bench Asterisk instance; stopped at the end only if we started it."""

    started: bool = False
    state: dict = field(default_factory=dict)

    def start(self) -> dict:
        running = subprocess.run([*SANDBOX, "status", "--instance", INSTANCE],
                                 capture_output=True).returncode == 0
        # `start` keeps a healthy instance with these settings as it is.
        subprocess.run([*SANDBOX, "start", "--instance", INSTANCE, *SANDBOX_PORTS],
                       check=True, timeout=900, stdout=subprocess.DEVNULL)
        self.started = not running
        path = Path(os.environ.get("CALLVERIFY_SANDBOX_DIR", "/var/lib/callverify/sandbox"))
        self.state = json.loads((path / "instances" / INSTANCE / "state.json").read_text())
        return self.state

    def stop(self) -> None:
        if self.started:
            subprocess.run([*SANDBOX, "stop", "--instance", INSTANCE], timeout=60,
                           stdout=subprocess.DEVNULL)


@dataclass
class RedisServer:
    """A project-owned redis-server with AOF on, as `make run` starts it."""

    workdir: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    def start(self) -> str:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed: run `make deps`")
        self.port = free_port()
        data = self.workdir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data),
             "--save", "", "--appendonly", "yes", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
            return False
        wait_until(answers, 10, "redis-server", self.proc)
        return self.url()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        stop_process(self.proc)


def service_env(redis_url: str, state: dict, listen: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVERIFY_")}
    env.update({
        "CALLVERIFY_REDIS_URL": redis_url,
        "CALLVERIFY_ARI_URL": state["ari_url"],
        "CALLVERIFY_ARI_USER": state["ari_user"],
        "CALLVERIFY_ARI_PASSWORD": state["ari_password"],
        "CALLVERIFY_ARI_APP": ARI_APP,
        "CALLVERIFY_CONSUMER_NAME": "bench-engine",
        "CALLVERIFY_SANDBOX_INSTANCE": INSTANCE,
        "CALLVERIFY_TRUNK_URI": state["trunk_uri"],
        "CALLVERIFY_API_LISTEN": listen,
        # The bench measures the machine, not the default cap of 200 calls.
        "CALLVERIFY_MAX_CONCURRENT_CALLS": "5000",
        # The bench's callback receiver listens on 127.0.0.1 (the egress guard).
        "CALLVERIFY_EGRESS_ALLOW": "127.0.0.0/8",
        # Its numbers are consecutive (1555xxxxxxx): thousands a minute to one
        # destination prefix, which the velocity alarm would block.
        "CALLVERIFY_PREFIX_ALARM_PER_MINUTE": "0",
        # The client limits are off: the front-door bench sends tens of
        # thousands of requests a second from one address with one key
        # (numbers never repeat, but the daily cap is off too).
        "CALLVERIFY_RATE_PER_KEY": "0",
        "CALLVERIFY_RATE_PER_ADDRESS": "0",
        "CALLVERIFY_DAILY_CAP_PER_NUMBER": "0",
        # Served as in production, on a port of the bench's own.
        "CALLVERIFY_METRICS_LISTEN": f"127.0.0.1:{free_port()}",
    })
    return env


@dataclass
class Service:
    """`callverify run` (api + engine + delivery) or `callverify api` alone."""

    command: str
    env: dict
    log_path: Path
    proc: subprocess.Popen | None = None
    port: int = 0
    args: tuple[str, ...] = ()
    nice: int | None = None  # --service-nice: a CPU priority of its own

    def start(self) -> Service:
        self.port = int(self.env["CALLVERIFY_API_LISTEN"].rsplit(":", 1)[1])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([str(BIN / "callverify"), self.command, *self.args],
                                         env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                         start_new_session=self.nice is not None)
        if self.nice is not None:
            # In a session of its own, so the autogroup it sets is its own too.
            set_cpu_nice(self.nice, self.proc.pid)
        if self.command in ("run", "api"):
            wait_until(lambda: http_ok(f"{self.base}/healthz"), 20,
                       f"callverify {self.command}", self.proc)
        if self.command != "api":
            # Let the engine take its consumer group and the ARI WebSocket.
            time.sleep(1.5)
            if self.proc.poll() is not None:
                raise RuntimeError(f"callverify {self.command} exited with {self.proc.returncode}"
                                   f"; see {self.log_path}")
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc, timeout=15)


def create_account(env: dict, credits: int, credential: str = "api_key") -> str:
    """`callverify account create`; returns its api_key (or its `credential`: "token")."""
    out = subprocess.run([str(BIN / "callverify"), "account", "create", "--name", "bench",
                          "--credits", str(credits)], env=env, check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)[credential]


def start_minimal(workdir: Path, workers: int = 1) -> tuple[subprocess.Popen, int]:
    """The minimal aiohttp handler the front door is compared with."""
    port = free_port()
    with open(workdir / "minimal.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "tests.bench.minimal_app", str(port),
                                 str(workers)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 10, "minimal handler", proc)
    return proc, port
