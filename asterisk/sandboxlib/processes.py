"""Asterisk processes in the rootfs: is a pid still ours, which run there, ending them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

from .host import send_signal

STOP_GRACE = 5.0

# Popen objects of Asterisk processes started by this process (reaped on stop).
children: dict[int, subprocess.Popen] = {}


def pid_alive(pid: int | None, conf: str | None = None) -> bool:
    """True while pid runs (not a zombie) and, given conf, was started with that config."""
    if not pid:
        return False
    child = children.get(pid)
    if child is not None and child.poll() is not None:
        children.pop(pid, None)
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
        if conf:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if conf.encode() not in f.read():
                    return False
    except (OSError, IndexError):
        return False
    return True


def processes_in_root(rootfs: str) -> list[int]:
    """Pids of processes chrooted into rootfs (whatever started them)."""
    pids = []
    real = os.path.realpath(rootfs)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/root") == real:
                with open(f"/proc/{entry}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                        pids.append(int(entry))
        except OSError:
            continue
    return pids


def kill(pid: int, conf: str | None) -> None:
    """SIGTERM, then SIGKILL after STOP_GRACE seconds; reap it if we started it."""
    if not pid_alive(pid, conf):
        return
    send_signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and pid_alive(pid, conf):
        time.sleep(0.05)
    if pid_alive(pid, conf):
        send_signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and pid_alive(pid, conf):
            time.sleep(0.05)
    child = children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(Exception):
            child.wait(timeout=1)
