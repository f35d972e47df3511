"""Stopping instances, and releasing the rootfs' mounts once nothing runs in it."""

from __future__ import annotations

import os

from .host import check_instance_name, locked, require_root
from .layout import rootfs_path
from .mounts import release_mounts
from .processes import children, kill, pid_alive, processes_in_root
from .state import known_instances, load_state, save_state


def stop_locked(instance: str, release: bool = True) -> bool:
    """Stop the instance (caller holds the lock); True if it ran."""
    state = load_state(instance)
    was_running = False
    if state:
        pid = state.get("pid")
        if pid and pid_alive(pid, state.get("asterisk_conf")):
            was_running = True
            kill(pid, state.get("asterisk_conf"))
        children.pop(pid, None) if pid else None
        if state.get("pid") is not None:
            state["pid"] = None
            save_state(instance, state)
    if release:
        rootfs = rootfs_path()
        if os.path.isdir(rootfs) and not processes_in_root(rootfs):
            release_mounts(rootfs)
    return was_running


def stop(instance: str = "main") -> bool:
    """Stop the instance (idempotent); unmount when no instance runs. True if it ran."""
    require_root()
    check_instance_name(instance)
    with locked():
        return stop_locked(instance)


def stop_all() -> None:
    """Stop every instance and any other process left in the rootfs; unmount."""
    for name in known_instances():
        stop_locked(name, release=False)
    rootfs = rootfs_path()
    if os.path.isdir(rootfs):
        for pid in processes_in_root(rootfs):
            kill(pid, None)
        release_mounts(rootfs)
