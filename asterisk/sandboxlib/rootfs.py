"""The cached Debian unstable rootfs with Asterisk: build it with debootstrap, destroy it."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import time

from .host import SandboxError, clean_env, locked, log, require_root, run_checked
from .host_apt import ensure_debootstrap, host_apt_proxy_lines, host_mirror
from .layout import MARKER, MOD_DIR, rootfs_path, sandbox_dir
from .mounts import safe_rmtree, umount_all_under
from .shutdown import stop_all

SUITE = "unstable"
PACKAGES = ["asterisk", "asterisk-core-sounds-en", "asterisk-core-sounds-en-gsm"]
OPTIONAL_PACKAGES = ["asterisk-core-sounds-en-wav"]


def is_built() -> bool:
    return os.path.isfile(os.path.join(rootfs_path(), MARKER))


def build(force: bool = False) -> str:
    """Build (or reuse) the cached Debian unstable rootfs with Asterisk. Returns its path."""
    require_root()
    with locked():
        final = rootfs_path()
        if is_built() and not force:
            return final
        base = sandbox_dir()
        os.makedirs(base, exist_ok=True)
        if force and os.path.lexists(final):
            stop_all()
            safe_rmtree(final)
        tmp = os.path.join(base, "rootfs.building")
        safe_rmtree(tmp)                      # leftovers of an interrupted build
        log_file = os.path.join(base, "build.log")
        with open(log_file, "w") as f:
            f.write(f"callverify sandbox build {time.strftime('%F %T')}\n")
        t0 = time.monotonic()
        debootstrap = ensure_debootstrap(log_file)
        mirror = host_mirror()
        cmd = [debootstrap, "--variant=minbase", "--components=main", SUITE, tmp]
        if mirror:
            cmd.append(mirror)
        log(f"debootstrap {SUITE} (minbase) -> {tmp} (log: {log_file})")
        try:
            run_checked(cmd, log_file, "debootstrap")
            log("installing asterisk and sounds in the chroot")
            _prepare_chroot_apt(tmp)
            proc = os.path.join(tmp, "proc")
            run_checked(["mount", "-t", "proc", "proc", proc], what="mount /proc")
            chroot = ["chroot", tmp]
            run_checked(chroot + ["apt-get", "update", "-q"], log_file, "apt-get update (chroot)")
            packages = list(PACKAGES)
            for pkg in OPTIONAL_PACKAGES:
                has = subprocess.run(chroot + ["apt-cache", "show", pkg], env=clean_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if has.returncode == 0:
                    packages.append(pkg)
            run_checked(chroot + ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
                        + packages, log_file, "apt-get install asterisk (chroot)")
            run_checked(chroot + ["apt-get", "clean"], log_file, "apt-get clean (chroot)")
            version = subprocess.run(chroot + ["asterisk", "-V"], capture_output=True,
                                     text=True, env=clean_env()).stdout.strip()
        finally:
            umount_all_under(tmp)
        for lists in glob.glob(os.path.join(tmp, "var/lib/apt/lists/*")):
            if os.path.isfile(lists) and not lists.endswith("/lock"):
                os.unlink(lists)
        if not os.path.isdir(os.path.join(tmp, MOD_DIR.lstrip("/"))):
            raise SandboxError(f"asterisk modules not found at {MOD_DIR} in the rootfs")
        with open(os.path.join(tmp, MARKER), "w") as f:
            json.dump({"asterisk": version, "suite": SUITE,
                       "built_at": time.strftime("%FT%TZ", time.gmtime()),
                       "packages": packages}, f)
            f.write("\n")
        if os.path.lexists(final):
            safe_rmtree(final)
        os.rename(tmp, final)
        log(f"built {version} in {time.monotonic() - t0:.0f} s -> {final}")
        return final


def _prepare_chroot_apt(root: str) -> None:
    conf = [
        "// written by callverify's asterisk/sandbox.py",
        'Acquire::Check-Valid-Until "false";',
        'Acquire::Check-Date "false";',
        'APT::Install-Recommends "false";',
        'APT::Install-Suggests "false";',
        'Acquire::Languages "none";',
    ] + host_apt_proxy_lines()
    with open(os.path.join(root, "etc/apt/apt.conf.d/99callverify"), "w") as f:
        f.write("\n".join(conf) + "\n")
    dpkg_excl = os.path.join(root, "etc/dpkg/dpkg.cfg.d/01callverify-nodoc")
    os.makedirs(os.path.dirname(dpkg_excl), exist_ok=True)
    with open(dpkg_excl, "w") as f:
        f.write("path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\n"
                "path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n")
    policy = os.path.join(root, "usr/sbin/policy-rc.d")
    with open(policy, "w") as f:
        f.write("#!/bin/sh\n# no services start inside the callverify sandbox build\nexit 101\n")
    os.chmod(policy, 0o755)
    ensure_rootfs_files(root)
    resolv = os.path.join(root, "etc/resolv.conf")
    if os.path.lexists(resolv):
        os.unlink(resolv)
    try:
        shutil.copyfile("/etc/resolv.conf", resolv)
    except OSError:
        pass


def ensure_rootfs_files(root: str) -> None:
    """Files Asterisk needs that debootstrap's minbase may lack (/etc/hosts)."""
    hosts = os.path.join(root, "etc/hosts")
    if not os.path.exists(hosts):
        with open(hosts, "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")


def destroy() -> None:
    """Stop every instance and remove the whole cache."""
    require_root()
    with locked():
        stop_all()
        base = sandbox_dir()
        for path in (os.path.join(base, "rootfs.building"), rootfs_path(),
                     os.path.join(base, "instances"), os.path.join(base, "build.log")):
            if os.path.isdir(path) and not os.path.islink(path):
                safe_rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(base, ".lock"))
        os.rmdir(base)
