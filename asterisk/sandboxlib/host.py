"""Host-side basics: the error type, the root check, the cache lock, running commands."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys

from .layout import sandbox_dir

_lock_depth = 0
_lock_fd: int | None = None


class SandboxError(Exception):
    """A provisioning step failed; the message says what and why."""


def log(msg: str) -> None:
    print(f"sandbox: {msg}", file=sys.stderr, flush=True)


def require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            "the Asterisk sandbox needs root (debootstrap, chroot, mount); "
            "without root, point CALLVERIFY_ARI_URL/_ARI_USER/_ARI_PASSWORD "
            "at an existing Asterisk instead")


def check_instance_name(instance: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", instance or ""):
        raise SandboxError(f"bad instance name {instance!r} (use [a-z0-9_-], max 32)")


@contextlib.contextmanager
def locked():
    """Serialise build/start/stop across processes (re-entrant in-process)."""
    global _lock_depth, _lock_fd
    if _lock_depth == 0:
        os.makedirs(sandbox_dir(), exist_ok=True)
        fd = os.open(os.path.join(sandbox_dir(), ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _lock_fd = fd
    _lock_depth += 1
    try:
        yield
    finally:
        _lock_depth -= 1
        if _lock_depth == 0 and _lock_fd is not None:
            fcntl.flock(_lock_fd, fcntl.LOCK_UN)
            os.close(_lock_fd)
            _lock_fd = None


def clean_env() -> dict:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LC_ALL": "C", "LANG": "C", "HOME": "/root",
           "DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"}
    for key in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def send_signal(pid: int, sig: int) -> None:
    """Signal the process group led by pid, then pid itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def run_checked(cmd: list[str], log_file: str | None = None, what: str = "") -> None:
    """Run a command; on failure raise with the tail of its output."""
    if log_file:
        with open(log_file, "ab") as out:
            out.write(("\n$ " + " ".join(cmd) + "\n").encode())
            out.flush()
            child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=clean_env(),
                                     start_new_session=True)
            try:
                rc = child.wait()
            except BaseException:
                # interrupted: take the whole step down (debootstrap, apt, dpkg ...)
                send_signal(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    send_signal(child.pid, signal.SIGKILL)
                    child.wait()
                raise
        if rc != 0:
            raise SandboxError(f"{what or cmd[0]} failed (exit {rc}); see {log_file}:\n"
                               + tail(log_file, 25))
    else:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=clean_env())
        if proc.returncode != 0:
            raise SandboxError(f"{what or cmd[0]} failed (exit {proc.returncode}):\n"
                               + (proc.stdout + proc.stderr)[-3000:])


def tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(data.splitlines()[-lines:])


def write_private(path: str, data: str) -> None:
    """Atomically write a file readable by root only."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
