"""The rootfs' /proc and /dev mounts, and removing trees without crossing a mount."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

from .host import SandboxError, run_checked


def _mountpoints() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            field = line.split()[4]
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return points


def is_mounted(path: str) -> bool:
    return os.path.realpath(path) in _mountpoints()


def mounts_under(path: str) -> list[str]:
    base = os.path.realpath(path)
    found = [p for p in _mountpoints() if p == base or p.startswith(base + "/")]
    return sorted(set(found), key=len, reverse=True)


def umount(path: str) -> None:
    if not is_mounted(path):
        return
    if subprocess.call(["umount", path], stderr=subprocess.DEVNULL) != 0:
        subprocess.call(["umount", "-l", path])
    if is_mounted(path):
        raise SandboxError(f"could not unmount {path}")


def umount_all_under(path: str) -> None:
    for point in mounts_under(path):
        umount(point)


def safe_rmtree(path: str) -> None:
    """Remove a tree, but never through a mount (a bind-mounted /dev!)."""
    if not os.path.lexists(path):
        return
    umount_all_under(path)
    if mounts_under(path):
        raise SandboxError(f"refusing to remove {path}: still has mounts {mounts_under(path)}")
    shutil.rmtree(path)


def _dev_usable(rootfs: str) -> bool:
    for name in ("null", "zero", "urandom", "random"):
        p = os.path.join(rootfs, "dev", name)
        try:
            if not stat.S_ISCHR(os.stat(p).st_mode):
                return False
            with open(p, "rb"):
                pass
        except OSError:
            return False
    try:
        with open(os.path.join(rootfs, "dev", "null"), "wb") as f:
            f.write(b"x")
    except OSError:
        return False
    return True


def ensure_mounts(rootfs: str) -> None:
    proc = os.path.join(rootfs, "proc")
    if not is_mounted(proc):
        os.makedirs(proc, exist_ok=True)
        run_checked(["mount", "-t", "proc", "proc", proc], what="mount /proc")
    dev = os.path.join(rootfs, "dev")
    if not is_mounted(dev) and not _dev_usable(rootfs):
        os.makedirs(dev, exist_ok=True)
        run_checked(["mount", "--bind", "/dev", dev], what="bind-mount /dev")


def release_mounts(rootfs: str) -> None:
    for sub in ("dev", "proc"):
        umount(os.path.join(rootfs, sub))
