"""The callverify pod (containers/callverify-pod.yaml) under podman, for tests.

`build_images()` runs containers/images.sh (the base import the first time,
podman's layer cache after). `Pod` plays the pod file, waits until Asterisk
and the service answer, runs the `callverify` CLI inside the pod, and takes it
all down again, leaving no container, pod or volume of its own behind.
Every wait is bounded; a failure says which part did not come up, with its log.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from asterisk.sandboxlib.probes import http_status

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS = ROOT / "containers"
POD_FILE = CONTAINERS / "callverify-pod.yaml"
POD_NAME = "callverify"
CONTAINER_NAMES = ("asterisk", "redis", "service")
REDIS_VOLUME = "callverify-redis"
SECRETS_DIR = "/run/callverify-pod"
# On the containers of a pod the tests started: theirs to remove if left over.
TEST_MARK = "io.callverify.test"
# The pod's own ports (docs/containers.md).
ARI_URL = "http://127.0.0.1:8688"
API_URL = "http://127.0.0.1:8690"
SIP_PORT = 5660
TRUNK_PORT = 5670
ASTERISK_CONF = "/var/lib/callverify-asterisk/etc/asterisk.conf"
BUILD_TIMEOUT = 1800.0   # a first build imports the base and installs from Debian and PyPI
START_TIMEOUT = 120.0


class PodError(RuntimeError):
    pass


def podman_env() -> dict[str, str]:
    """podman's environment: the repository's containers.conf unless one is given
    (made absolute: podman's build helpers run in other directories)."""
    conf = os.environ.get("CONTAINERS_CONF") or str(CONTAINERS / "containers.conf")
    return {**os.environ, "CONTAINERS_CONF": str(Path(conf).resolve())}


def podman(*args: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          env=podman_env(), stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise PodError(f"podman {' '.join(args)} exited {proc.returncode}: "
                       f"{(proc.stdout + proc.stderr)[-2000:]}")
    return proc


def build_images() -> float:
    """Build both images (containers/images.sh); returns the seconds it took."""
    started = time.monotonic()
    proc = subprocess.run([str(CONTAINERS / "images.sh")], capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT, env=podman_env(), stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise PodError(f"containers/images.sh exited {proc.returncode}:\n"
                       f"{(proc.stdout + proc.stderr)[-4000:]}")
    return time.monotonic() - started


class Pod:
    """The pod as `podman kube play` starts it; `stop()` undoes everything `start()` did."""

    def __init__(self) -> None:
        self.had_volume = False
        self.played = False  # stop() undoes nothing it did not start
        self.ari_auth: tuple[str, str] | None = None

    def container(self, name: str) -> str:
        return f"{POD_NAME}-{name}"

    def start(self) -> None:
        """Play the pod file, marked as the tests'. A pod of the same name left by
        a test run that was killed goes first; anyone else's stops the test."""
        if podman("pod", "exists", POD_NAME, check=False).returncode == 0:
            mark = podman("container", "inspect", "--format",
                          "{{ index .Config.Annotations \"" + TEST_MARK + "\" }}",
                          self.container("service"), check=False).stdout.strip()
            if mark != "1":
                raise PodError(f"a pod named {POD_NAME} runs already: stop it first "
                               f"(podman kube down {POD_FILE.relative_to(ROOT)})")
            podman("kube", "down", str(POD_FILE), timeout=120, check=False)
            podman("pod", "rm", "-f", POD_NAME, timeout=120, check=False)
        self.had_volume = podman("volume", "exists", REDIS_VOLUME, check=False).returncode == 0
        self.played = True
        podman("kube", "play", "--annotation", f"{TEST_MARK}=1", str(POD_FILE), timeout=120)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until Asterisk is fully booted and ARI answers, the service's API answers
        and the service has its ARI applications registered."""
        deadline = time.monotonic() + timeout
        waiting = "the pod's passwords"
        while time.monotonic() < deadline:
            self._check_running()
            if waiting == "the pod's passwords":
                password = podman("exec", self.container("asterisk"), "cat",
                                  f"{SECRETS_DIR}/ari-password", check=False).stdout.strip()
                if password:
                    self.ari_auth = ("callverify", password)
                    waiting = "Asterisk fully booted"
            if waiting == "Asterisk fully booted" and self.asterisk_booted():
                waiting = "ARI"
            if waiting == "ARI" and http_status(f"{ARI_URL}/ari/asterisk/info", self.ari_auth) == 200:
                waiting = "the API's /healthz"
            if waiting == "the API's /healthz" and http_status(f"{API_URL}/healthz") == 200:
                waiting = "the service's ARI applications"
            if waiting == "the service's ARI applications" and self.service_connected():
                return
            time.sleep(0.2)
        raise PodError(f"the pod did not get ready in {timeout:.0f} s: waited for {waiting}\n"
                       + self.logs())

    def asterisk_booted(self) -> bool:
        proc = podman("exec", self.container("asterisk"), "asterisk", "-C", ASTERISK_CONF, "-rx",
                      "core waitfullybooted", timeout=30, check=False)
        return proc.returncode == 0 and "fully booted" in proc.stdout

    def service_connected(self) -> bool:
        """The engine's Stasis application is registered on Asterisk."""
        assert self.ari_auth
        # ARI knows an application only while a WebSocket has it registered.
        return http_status(f"{ARI_URL}/ari/applications/callverify", self.ari_auth) == 200

    def _check_running(self) -> None:
        for name in CONTAINER_NAMES:
            state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                           self.container(name), check=False).stdout.split()
            if state and state[0] == "exited" and state[1] != "0" and name != "service":
                # the service may exit once while Redis starts (it is restarted)
                raise PodError(f"container {name} exited {state[1]}\n" + self.logs())

    def callverify(self, *args: str, timeout: float = 30.0) -> str:
        """The `callverify` CLI inside the pod's service container; its stdout."""
        return podman("exec", self.container("service"), "callverify", *args,
                      timeout=timeout).stdout.strip()

    def logs(self, lines: int = 30) -> str:
        parts = []
        for name in ("secrets", *CONTAINER_NAMES):
            proc = podman("logs", "--tail", str(lines), self.container(name), check=False)
            parts.append(f"--- {name}\n{(proc.stdout + proc.stderr).strip()}")
        return "\n".join(parts)

    def stop(self) -> None:
        """`podman kube down`, then whatever it left (a pod it could not remove, the
        Redis volume when this run made it)."""
        if not self.played:
            return
        podman("kube", "down", str(POD_FILE), timeout=120, check=False)
        if podman("pod", "exists", POD_NAME, check=False).returncode == 0:
            podman("pod", "rm", "-f", "-t", "5", POD_NAME, timeout=120, check=False)
        if not self.had_volume:
            podman("volume", "rm", "-f", REDIS_VOLUME, check=False)
        if podman("pod", "exists", POD_NAME, check=False).returncode == 0:
            raise PodError(f"pod {POD_NAME} is still there after podman kube down")
