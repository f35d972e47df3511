#!/usr/bin/env python3
"""Asterisk sandbox provisioner for callverify (stdlib only, needs root).

Builds a minimal Debian unstable root file system with debootstrap, installs
Debian's ``asterisk`` package and its English sounds into it, caches it outside
the repository, and runs one or more chrooted Asterisk instances from it, each
with its own configuration rendered from ``asterisk/config/*.conf``.

Command line::

    python3 asterisk/sandbox.py build [--force]
    python3 asterisk/sandbox.py start [--instance NAME] [--trunk-uri URI]
        [--http-port N] [--sip-port N] [--ami-port N] [--rtp-start N] [--rtp-end N]
    python3 asterisk/sandbox.py stop [--instance NAME]
    python3 asterisk/sandbox.py status [--instance NAME]     (exit 0 running, 3 not)
    python3 asterisk/sandbox.py cli [--instance NAME] COMMAND...   (asterisk -rx)
    python3 asterisk/sandbox.py destroy

From Python (tests)::

    import sandbox
    sandbox.build()                       # -> rootfs path
    state = sandbox.start("test")         # -> dict, see state file keys below
    sandbox.status("test")                # -> dict with "running"
    sandbox.load_state("test")            # -> dict or None
    sandbox.install_prompts()             # asterisk/prompts -> rootfs sounds
    sandbox.stop("test")

Cache: ``$CALLVERIFY_SANDBOX_DIR`` (default ``/var/lib/callverify/sandbox``)
holding ``rootfs/`` and ``instances/<NAME>/state.json`` (mode 0600) with keys
instance, ari_url, ari_user, ari_password, ami_user, ami_password, http_port,
sip_port, ami_port, rtp_start, rtp_end, trunk_uri, pid, rootfs, instance_dir,
asterisk_conf, log_file, started_at, config_hash.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import fcntl
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.join(HERE, "config")
PROMPTS_DIR = os.path.join(HERE, "prompts")

DEFAULT_DIR = "/var/lib/callverify/sandbox"
DEFAULT_TRUNK_URI = "sip:127.0.0.1:5070"
SUITE = "unstable"
MARKER = ".callverify-sandbox-complete"
INSTANCES_IN_ROOTFS = "/var/lib/callverify-instances"
MOD_DIR = "/usr/lib/x86_64-linux-gnu/asterisk/modules"
PACKAGES = ["asterisk", "asterisk-core-sounds-en", "asterisk-core-sounds-en-gsm"]
OPTIONAL_PACKAGES = ["asterisk-core-sounds-en-wav"]
ARI_USER = "callverify"
AMI_USER = "callverify"
START_TIMEOUT = 30.0
STOP_GRACE = 5.0

INSTANCE_DEFAULTS = {
    "main": {"http_port": 8088, "sip_port": 5060, "ami_port": 5038,
             "rtp_start": 10000, "rtp_end": 14999},
    "test": {"http_port": 8188, "sip_port": 5160, "ami_port": 5138,
             "rtp_start": 15000, "rtp_end": 19999},
}
PORT_KEYS = ("http_port", "sip_port", "ami_port", "rtp_start", "rtp_end")

# Popen objects of Asterisk processes started by this process (reaped on stop).
_children: dict[int, subprocess.Popen] = {}
_lock_depth = 0
_lock_fd: int | None = None


class SandboxError(Exception):
    """A provisioning step failed; the message says what and why."""


# --------------------------------------------------------------------------
# paths and small helpers
# --------------------------------------------------------------------------

def sandbox_dir() -> str:
    return os.path.realpath(os.environ.get("CALLVERIFY_SANDBOX_DIR") or DEFAULT_DIR)


def rootfs_path() -> str:
    return os.path.join(sandbox_dir(), "rootfs")


def state_path(instance: str) -> str:
    return os.path.join(sandbox_dir(), "instances", instance, "state.json")


def instance_dir_in_rootfs(instance: str) -> str:
    """The instance directory as seen inside the chroot."""
    return f"{INSTANCES_IN_ROOTFS}/{instance}"


def instance_dir_on_host(instance: str) -> str:
    return rootfs_path() + instance_dir_in_rootfs(instance)


def _log(msg: str) -> None:
    print(f"sandbox: {msg}", file=sys.stderr, flush=True)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError(
            "the Asterisk sandbox needs root (debootstrap, chroot, mount); "
            "without root, point CALLVERIFY_ARI_URL/_ARI_USER/_ARI_PASSWORD "
            "at an existing Asterisk instead")


def _check_instance_name(instance: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", instance or ""):
        raise SandboxError(f"bad instance name {instance!r} (use [a-z0-9_-], max 32)")


@contextlib.contextmanager
def _locked():
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


def _clean_env() -> dict:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LC_ALL": "C", "LANG": "C", "HOME": "/root",
           "DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"}
    for key in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return env


def _run(cmd: list[str], log_file: str | None = None, what: str = "") -> None:
    """Run a command; on failure raise with the tail of its output."""
    if log_file:
        with open(log_file, "ab") as out:
            out.write(("\n$ " + " ".join(cmd) + "\n").encode())
            out.flush()
            child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=_clean_env(),
                                     start_new_session=True)
            try:
                rc = child.wait()
            except BaseException:
                # interrupted: take the whole step down (debootstrap, apt, dpkg ...)
                _signal(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _signal(child.pid, signal.SIGKILL)
                    child.wait()
                raise
        if rc != 0:
            raise SandboxError(f"{what or cmd[0]} failed (exit {rc}); see {log_file}:\n"
                               + _tail(log_file, 25))
    else:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, env=_clean_env())
        if proc.returncode != 0:
            raise SandboxError(f"{what or cmd[0]} failed (exit {proc.returncode}):\n"
                               + (proc.stdout + proc.stderr)[-3000:])


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no {path})"
    return "\n".join(data.splitlines()[-lines:])


def _write_private(path: str, data: str) -> None:
    """Atomically write a file readable by root only."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# mounts
# --------------------------------------------------------------------------

def _mountpoints() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            field = line.split()[4]
            points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field))
    return points


def _is_mounted(path: str) -> bool:
    return os.path.realpath(path) in _mountpoints()


def _mounts_under(path: str) -> list[str]:
    base = os.path.realpath(path)
    found = [p for p in _mountpoints() if p == base or p.startswith(base + "/")]
    return sorted(set(found), key=len, reverse=True)


def _umount(path: str) -> None:
    if not _is_mounted(path):
        return
    if subprocess.call(["umount", path], stderr=subprocess.DEVNULL) != 0:
        subprocess.call(["umount", "-l", path])
    if _is_mounted(path):
        raise SandboxError(f"could not unmount {path}")


def _umount_all_under(path: str) -> None:
    for point in _mounts_under(path):
        _umount(point)


def _safe_rmtree(path: str) -> None:
    """Remove a tree, but never through a mount (a bind-mounted /dev!)."""
    if not os.path.lexists(path):
        return
    _umount_all_under(path)
    if _mounts_under(path):
        raise SandboxError(f"refusing to remove {path}: still has mounts {_mounts_under(path)}")
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


def _ensure_mounts(rootfs: str) -> None:
    proc = os.path.join(rootfs, "proc")
    if not _is_mounted(proc):
        os.makedirs(proc, exist_ok=True)
        _run(["mount", "-t", "proc", "proc", proc], what="mount /proc")
    dev = os.path.join(rootfs, "dev")
    if not _is_mounted(dev) and not _dev_usable(rootfs):
        os.makedirs(dev, exist_ok=True)
        _run(["mount", "--bind", "/dev", dev], what="bind-mount /dev")


def _release_mounts(rootfs: str) -> None:
    for sub in ("dev", "proc"):
        _umount(os.path.join(rootfs, sub))


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

def _host_mirror() -> str | None:
    """The Debian archive URI the host's apt uses (None: debootstrap default)."""
    override = os.environ.get("CALLVERIFY_SANDBOX_MIRROR")
    if override:
        return override
    entries: list[tuple[str, list[str], list[str]]] = []  # (uri, suites, components)
    one_line = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in one_line:
        try:
            text = open(path).read()
        except OSError:
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            line = re.sub(r"\[[^\]]*\]", " ", line)
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb":
                entries.append((parts[1], [parts[2]], parts[3:]))
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = open(path).read()
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            fields: dict[str, str] = {}
            key = None
            for raw in stanza.splitlines():
                if raw.startswith("#"):
                    continue
                if raw[:1] in (" ", "\t") and key:
                    fields[key] += " " + raw.strip()
                    continue
                if ":" in raw:
                    key, val = raw.split(":", 1)
                    key = key.strip().lower()
                    fields[key] = val.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in fields.get("types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("suites", "").split(),
                                fields.get("components", "").split()))
    best = None
    for uri, suites, comps in entries:
        if not re.match(r"https?://", uri):
            continue
        if "-security" in uri or any("security" in s for s in suites):
            continue
        if "main" not in comps:
            continue
        # a plain release suite (bookworm, stable, ...) marks the main archive
        if any("-" not in s and "/" not in s for s in suites):
            return uri.rstrip("/")
        best = best or uri.rstrip("/")
    return best


def _ensure_debootstrap(log_file: str) -> str:
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None)
    if found:
        return found
    _log("installing debootstrap on the host (apt-get)")
    _run(["apt-get", "update", "-q"], log_file, "apt-get update")
    _run(["apt-get", "install", "-y", "-q", "debootstrap"], log_file, "apt-get install debootstrap")
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(found):
        raise SandboxError("debootstrap is still missing after apt-get install")
    return found


def _host_apt_proxy_lines() -> list[str]:
    lines = []
    for key in ("Acquire::http::Proxy", "Acquire::https::Proxy"):
        try:
            out = subprocess.run(["apt-config", "dump", key], capture_output=True,
                                 text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            if line.startswith(key + " "):
                lines.append(line.strip())
    return lines


def is_built() -> bool:
    return os.path.isfile(os.path.join(rootfs_path(), MARKER))


def build(force: bool = False) -> str:
    """Build (or reuse) the cached Debian unstable rootfs with Asterisk. Returns its path."""
    _require_root()
    with _locked():
        final = rootfs_path()
        if is_built() and not force:
            return final
        base = sandbox_dir()
        os.makedirs(base, exist_ok=True)
        if force and os.path.lexists(final):
            _stop_all()
            _safe_rmtree(final)
        tmp = os.path.join(base, "rootfs.building")
        _safe_rmtree(tmp)                      # leftovers of an interrupted build
        log_file = os.path.join(base, "build.log")
        with open(log_file, "w") as f:
            f.write(f"callverify sandbox build {time.strftime('%F %T')}\n")
        t0 = time.monotonic()
        debootstrap = _ensure_debootstrap(log_file)
        mirror = _host_mirror()
        cmd = [debootstrap, "--variant=minbase", "--components=main", SUITE, tmp]
        if mirror:
            cmd.append(mirror)
        _log(f"debootstrap {SUITE} (minbase) -> {tmp} (log: {log_file})")
        try:
            _run(cmd, log_file, "debootstrap")
            _log("installing asterisk and sounds in the chroot")
            _prepare_chroot_apt(tmp)
            proc = os.path.join(tmp, "proc")
            _run(["mount", "-t", "proc", "proc", proc], what="mount /proc")
            chroot = ["chroot", tmp]
            _run(chroot + ["apt-get", "update", "-q"], log_file, "apt-get update (chroot)")
            packages = list(PACKAGES)
            for pkg in OPTIONAL_PACKAGES:
                has = subprocess.run(chroot + ["apt-cache", "show", pkg], env=_clean_env(),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if has.returncode == 0:
                    packages.append(pkg)
            _run(chroot + ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + packages,
                 log_file, "apt-get install asterisk (chroot)")
            _run(chroot + ["apt-get", "clean"], log_file, "apt-get clean (chroot)")
            version = subprocess.run(chroot + ["asterisk", "-V"], capture_output=True,
                                     text=True, env=_clean_env()).stdout.strip()
        finally:
            _umount_all_under(tmp)
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
            _safe_rmtree(final)
        os.rename(tmp, final)
        _log(f"built {version} in {time.monotonic() - t0:.0f} s -> {final}")
        return final


def _prepare_chroot_apt(root: str) -> None:
    conf = [
        "// written by callverify's asterisk/sandbox.py",
        'Acquire::Check-Valid-Until "false";',
        'Acquire::Check-Date "false";',
        'APT::Install-Recommends "false";',
        'APT::Install-Suggests "false";',
        'Acquire::Languages "none";',
    ] + _host_apt_proxy_lines()
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
    _ensure_rootfs_files(root)
    resolv = os.path.join(root, "etc/resolv.conf")
    if os.path.lexists(resolv):
        os.unlink(resolv)
    try:
        shutil.copyfile("/etc/resolv.conf", resolv)
    except OSError:
        pass


# --------------------------------------------------------------------------
# configuration rendering
# --------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_template(text: str, values: dict) -> str:
    """Replace {{name}} placeholders (Asterisk's own ${VAR} stays untouched)."""
    def sub(m):
        key = m.group(1)
        if key not in values:
            raise SandboxError(f"config template needs unknown value {{{{{key}}}}}")
        return str(values[key])
    return _PLACEHOLDER.sub(sub, text)


def _trunk_host(uri: str) -> str:
    rest = re.sub(r"^sips?:", "", uri).split(";", 1)[0].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        return rest[1:rest.index("]")]
    return rest.split(":", 1)[0]


def templates_hash() -> str:
    """Digest of the config templates: a running instance restarts when they change."""
    h = hashlib.sha256()
    for src in sorted(glob.glob(os.path.join(CONFIG_DIR, "*.conf"))):
        h.update(os.path.basename(src).encode() + b"\0")
        with open(src, "rb") as f:
            h.update(f.read() + b"\0")
    return h.hexdigest()[:16]


def render_configs(instance: str, state: dict) -> str:
    """Render asterisk/config/*.conf into the instance's etc dir; return that dir."""
    rootfs = rootfs_path()
    inst_host = instance_dir_on_host(instance)
    for sub in ("etc", "run", "spool", "log", "lib", "db", "cache"):
        os.makedirs(os.path.join(inst_host, sub), exist_ok=True)
    os.chmod(inst_host, 0o700)
    etc = os.path.join(inst_host, "etc")
    values = dict(state)
    values.update(inst_dir=instance_dir_in_rootfs(instance), mod_dir=MOD_DIR,
                  trunk_host=_trunk_host(state["trunk_uri"]))
    rendered = set()
    for src in sorted(glob.glob(os.path.join(CONFIG_DIR, "*.conf"))):
        name = os.path.basename(src)
        with open(src) as f:
            text = render_template(f.read(), values)
        _write_private(os.path.join(etc, name), text)
        rendered.add(name)
    # files taken from the package as they are (ringing tones etc.)
    for name in ("indications.conf",):
        if name in rendered:
            continue
        pkg = os.path.join(rootfs, "etc/asterisk", name)
        if os.path.isfile(pkg):
            shutil.copyfile(pkg, os.path.join(etc, name))
    return etc


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------

def _pid_alive(pid: int | None, conf: str | None = None) -> bool:
    if not pid:
        return False
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        _children.pop(pid, None)
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


def _processes_in_root(rootfs: str) -> list[int]:
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


def _ari_get(state: dict, path: str = "/ari/asterisk/info", timeout: float = 2.0) -> int:
    """Status code of an authenticated GET to ARI (0 if nothing answered)."""
    req = urllib.request.Request(state["ari_url"] + path)
    token = base64.b64encode(f"{state['ari_user']}:{state['ari_password']}".encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return 0


def _chroot_realpath(root: str, path: str) -> str:
    """Host path of `path` as the chroot resolves it (absolute links stay inside)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if part == ".":
            continue
        host = os.path.join(root, *resolved, part)
        if os.path.islink(host) and hops < 40:
            hops += 1
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def install_prompts(rootfs: str | None = None) -> list[str]:
    """Copy asterisk/prompts/<lang>/... into the rootfs' sounds/<lang>/ (sound:callverify/x).

    Each sub-directory (e.g. en/callverify) is mirrored exactly; returns the
    sound directories written.
    """
    rootfs = rootfs or rootfs_path()
    written = []
    if not os.path.isdir(PROMPTS_DIR):
        return written
    for lang in sorted(os.listdir(PROMPTS_DIR)):
        src_lang = os.path.join(PROMPTS_DIR, lang)
        if not os.path.isdir(src_lang):
            continue
        dst_lang = _chroot_realpath(rootfs, f"/usr/share/asterisk/sounds/{lang}")
        for dirpath, dirnames, filenames in os.walk(src_lang):
            rel = os.path.relpath(dirpath, src_lang)
            dst_dir = os.path.normpath(os.path.join(dst_lang, rel))
            os.makedirs(dst_dir, exist_ok=True)
            for name in filenames:
                src, dst = os.path.join(dirpath, name), os.path.join(dst_dir, name)
                st = os.stat(src)
                try:
                    same = os.stat(dst).st_size == st.st_size and \
                        int(os.stat(dst).st_mtime) == int(st.st_mtime)
                except OSError:
                    same = False
                if not same:
                    shutil.copy2(src, dst)
            if rel != ".":          # a directory the repo owns: drop stale files
                for name in os.listdir(dst_dir):
                    path = os.path.join(dst_dir, name)
                    if name not in filenames and name not in dirnames and os.path.isfile(path):
                        os.unlink(path)
            written.append(dst_dir)
    return written


def _fully_booted(state: dict, deadline: float) -> bool:
    """ARI answers before all modules are loaded: wait for the full boot."""
    try:
        res = subprocess.run(
            ["chroot", state["rootfs"], "/usr/sbin/asterisk", "-C", state["asterisk_conf"],
             "-rx", "core waitfullybooted"], capture_output=True, text=True, env=_clean_env(),
            stdin=subprocess.DEVNULL, timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return res.returncode == 0 and "fully booted" in res.stdout


def _ensure_rootfs_files(root: str) -> None:
    hosts = os.path.join(root, "etc/hosts")
    if not os.path.exists(hosts):
        with open(hosts, "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")


def _port_free(port: int, kind: int) -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _kill(pid: int, conf: str | None) -> None:
    if not _pid_alive(pid, conf):
        return
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and _pid_alive(pid, conf):
        time.sleep(0.05)
    if _pid_alive(pid, conf):
        _signal(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _pid_alive(pid, conf):
            time.sleep(0.05)
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(Exception):
            child.wait(timeout=1)


# --------------------------------------------------------------------------
# instances
# --------------------------------------------------------------------------

def load_state(instance: str = "main") -> dict | None:
    """The instance's state file as a dict (None if it was never started)."""
    try:
        with open(state_path(instance)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _save_state(instance: str, state: dict) -> None:
    _write_private(state_path(instance), json.dumps(state, indent=2, sort_keys=True) + "\n")


def _wanted_settings(instance: str, old: dict | None, overrides: dict) -> dict:
    defaults = INSTANCE_DEFAULTS.get(instance, {})
    wanted = {}
    for key in PORT_KEYS:
        val = overrides.get(key)
        if val is None:
            val = defaults.get(key)
        if val is None and old:
            val = old.get(key)
        if val is None:
            raise SandboxError(f"instance {instance!r} has no default ports: give --"
                               + key.replace("_", "-"))
        val = int(val)
        if not 1 <= val <= 65535:
            raise SandboxError(f"{key} {val} out of range")
        wanted[key] = val
    if wanted["rtp_start"] > wanted["rtp_end"]:
        raise SandboxError("rtp_start must not exceed rtp_end")
    trunk = overrides.get("trunk_uri") or os.environ.get("CALLVERIFY_TRUNK_URI")
    if not trunk and instance not in INSTANCE_DEFAULTS and old:
        trunk = old.get("trunk_uri")
    trunk = trunk or DEFAULT_TRUNK_URI
    if not re.fullmatch(r"sips?:[^\s\"'<>;]+(;[^\s\"'<>]*)?", trunk):
        raise SandboxError(f"trunk URI {trunk!r} is not a SIP URI (e.g. sip:127.0.0.1:5070)")
    wanted["trunk_uri"] = trunk
    return wanted


def _other_instances() -> list[str]:
    base = os.path.join(sandbox_dir(), "instances")
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def _healthy(state: dict | None) -> bool:
    return bool(state) and _pid_alive(state.get("pid"), state.get("asterisk_conf")) \
        and _ari_get(state) == 200


def start(instance: str = "main", trunk_uri: str | None = None, http_port: int | None = None,
          sip_port: int | None = None, ami_port: int | None = None,
          rtp_start: int | None = None, rtp_end: int | None = None,
          timeout: float = START_TIMEOUT) -> dict:
    """Start (or keep) a chrooted Asterisk instance; return its state dict."""
    _require_root()
    _check_instance_name(instance)
    with _locked():
        build()
        old = load_state(instance)
        wanted = _wanted_settings(instance, old, dict(
            trunk_uri=trunk_uri, http_port=http_port, sip_port=sip_port, ami_port=ami_port,
            rtp_start=rtp_start, rtp_end=rtp_end))
        wanted["config_hash"] = templates_hash()
        install_prompts()
        if old and _healthy(old) and all(old.get(k) == wanted[k] for k in wanted):
            return old
        if old and _pid_alive(old.get("pid"), old.get("asterisk_conf")):
            _log(f"{instance}: settings changed or not answering; restarting")
            _stop_locked(instance, release=False)
        _check_ports(instance, wanted)
        rootfs = rootfs_path()
        state = {
            "instance": instance,
            "ari_url": f"http://127.0.0.1:{wanted['http_port']}",
            "ari_user": ARI_USER,
            "ari_password": (old or {}).get("ari_password") or secrets.token_urlsafe(24),
            "ami_user": AMI_USER,
            "ami_password": (old or {}).get("ami_password") or secrets.token_urlsafe(24),
            **wanted,
            "pid": None,
            "rootfs": rootfs,
            "instance_dir": instance_dir_on_host(instance),
            "asterisk_conf": instance_dir_in_rootfs(instance) + "/etc/asterisk.conf",
            "log_file": instance_dir_on_host(instance) + "/log/asterisk.out",
            "started_at": None,
        }
        render_configs(instance, state)
        inst_host = instance_dir_on_host(instance)
        for stale in glob.glob(os.path.join(inst_host, "run", "*")):
            with contextlib.suppress(OSError):
                os.unlink(stale)
        _ensure_rootfs_files(rootfs)
        _ensure_mounts(rootfs)
        with open(state["log_file"], "ab") as out:
            out.write(f"--- start {time.strftime('%F %T')}\n".encode())
            out.flush()
            child = subprocess.Popen(
                ["chroot", rootfs, "/usr/sbin/asterisk", "-f", "-C", state["asterisk_conf"]],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd="/", env=_clean_env())
        _children[child.pid] = child
        state["pid"] = child.pid
        state["started_at"] = time.strftime("%FT%TZ", time.gmtime())
        _save_state(instance, state)
        deadline = time.monotonic() + timeout
        code = 0
        while time.monotonic() < deadline:
            if not _pid_alive(child.pid):
                break
            code = _ari_get(state, timeout=1.0)
            if code == 200 and _fully_booted(state, deadline) \
                    and _ari_get(state, "/ari/endpoints/PJSIP/trunk") == 200:
                return state
            time.sleep(0.1)
        why = ("Asterisk exited" if not _pid_alive(child.pid)
               else f"ARI did not answer 200 within {timeout:.0f} s (last status {code or 'none'})")
        _stop_locked(instance)
        raise SandboxError(
            f"{instance}: {why}.\n--- {state['log_file']}\n{_tail(state['log_file'])}\n"
            f"--- messages.log\n{_tail(os.path.join(inst_host, 'log', 'messages.log'))}")


def _check_ports(instance: str, wanted: dict) -> None:
    for other in _other_instances():
        if other == instance:
            continue
        st = load_state(other)
        if not st or not _pid_alive(st.get("pid"), st.get("asterisk_conf")):
            continue
        for key in ("http_port", "sip_port", "ami_port"):
            if st.get(key) == wanted[key]:
                raise SandboxError(f"{key} {wanted[key]} is used by running instance {other!r}")
        if not (wanted["rtp_end"] < st["rtp_start"] or wanted["rtp_start"] > st["rtp_end"]):
            raise SandboxError(f"RTP range overlaps running instance {other!r}")
    for key, kind in (("http_port", socket.SOCK_STREAM), ("ami_port", socket.SOCK_STREAM),
                      ("sip_port", socket.SOCK_DGRAM)):
        if not _port_free(wanted[key], kind):
            raise SandboxError(f"{key} {wanted[key]} on 127.0.0.1 is already in use")


def _stop_locked(instance: str, release: bool = True) -> bool:
    state = load_state(instance)
    was_running = False
    if state:
        pid = state.get("pid")
        if pid and _pid_alive(pid, state.get("asterisk_conf")):
            was_running = True
            _kill(pid, state.get("asterisk_conf"))
        _children.pop(pid, None) if pid else None
        if state.get("pid") is not None:
            state["pid"] = None
            _save_state(instance, state)
    if release:
        rootfs = rootfs_path()
        if os.path.isdir(rootfs) and not _processes_in_root(rootfs):
            _release_mounts(rootfs)
    return was_running


def stop(instance: str = "main") -> bool:
    """Stop the instance (idempotent); unmount when no instance runs. True if it ran."""
    _require_root()
    _check_instance_name(instance)
    with _locked():
        return _stop_locked(instance)


def _stop_all() -> None:
    for name in _other_instances():
        _stop_locked(name, release=False)
    rootfs = rootfs_path()
    if os.path.isdir(rootfs):
        for pid in _processes_in_root(rootfs):
            _kill(pid, None)
        _release_mounts(rootfs)


def status(instance: str = "main") -> dict:
    """{'instance', 'running', 'pid', 'ari_url', 'state'} without secrets."""
    _check_instance_name(instance)
    state = load_state(instance)
    alive = bool(state) and _pid_alive(state.get("pid"), state.get("asterisk_conf"))
    answering = alive and _ari_get(state) == 200
    return {"instance": instance, "running": bool(answering),
            "process_alive": bool(alive), "pid": state.get("pid") if alive else None,
            "ari_url": (state or {}).get("ari_url"),
            "state_file": state_path(instance) if state else None}


def cli(instance: str, command: str) -> subprocess.CompletedProcess:
    """Run `asterisk -rx COMMAND` against a running instance."""
    state = load_state(instance)
    if not state:
        raise SandboxError(f"instance {instance!r} was never started")
    return subprocess.run(["chroot", state["rootfs"], "/usr/sbin/asterisk", "-C",
                           state["asterisk_conf"], "-rx", command],
                          capture_output=True, text=True, env=_clean_env(), timeout=30)


def destroy() -> None:
    """Stop every instance and remove the whole cache."""
    _require_root()
    with _locked():
        _stop_all()
        base = sandbox_dir()
        for path in (os.path.join(base, "rootfs.building"), rootfs_path(),
                     os.path.join(base, "instances"), os.path.join(base, "build.log")):
            if os.path.isdir(path) and not os.path.islink(path):
                _safe_rmtree(path)
            elif os.path.lexists(path):
                os.unlink(path)
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(base, ".lock"))
        os.rmdir(base)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sandbox.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build or reuse the cached rootfs")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    s = sub.add_parser("start", help="start an instance (builds first if needed)")
    s.add_argument("--instance", default="main")
    s.add_argument("--trunk-uri")
    for opt in ("--http-port", "--sip-port", "--ami-port", "--rtp-start", "--rtp-end"):
        s.add_argument(opt, type=int)
    s.add_argument("--timeout", type=float, default=START_TIMEOUT)
    for name, text in (("stop", "stop an instance"), ("status", "running/stopped; exit 0/3")):
        x = sub.add_parser(name, help=text)
        x.add_argument("--instance", default="main")
    c = sub.add_parser("cli", help="run an Asterisk CLI command (asterisk -rx)")
    c.add_argument("--instance", default="main")
    c.add_argument("command", nargs="+")
    sub.add_parser("destroy", help="stop all instances and remove the cache")
    args = p.parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, on_term)
    try:
        if args.cmd == "build":
            path = build(force=args.force)
            print(f"rootfs ready: {path}")
        elif args.cmd == "start":
            st = start(args.instance, trunk_uri=args.trunk_uri, http_port=args.http_port,
                       sip_port=args.sip_port, ami_port=args.ami_port,
                       rtp_start=args.rtp_start, rtp_end=args.rtp_end, timeout=args.timeout)
            print(f"{args.instance}: running pid {st['pid']}, ARI {st['ari_url']} "
                  f"(user {st['ari_user']}), SIP udp 127.0.0.1:{st['sip_port']} -> trunk "
                  f"{st['trunk_uri']}, AMI 127.0.0.1:{st['ami_port']}, RTP "
                  f"{st['rtp_start']}-{st['rtp_end']}; state {state_path(args.instance)}")
        elif args.cmd == "stop":
            ran = stop(args.instance)
            print(f"{args.instance}: stopped" + ("" if ran else " (was not running)"))
        elif args.cmd == "status":
            st = status(args.instance)
            if st["running"]:
                print(f"{args.instance}: running pid {st['pid']} ARI {st['ari_url']}")
                return 0
            extra = " (process alive, ARI not answering)" if st["process_alive"] else ""
            print(f"{args.instance}: stopped{extra}"
                  + (f" ARI {st['ari_url']}" if st["ari_url"] else ""))
            return 3
        elif args.cmd == "cli":
            res = cli(args.instance, " ".join(args.command))
            sys.stdout.write(res.stdout)
            sys.stderr.write(res.stderr)
            return res.returncode
        elif args.cmd == "destroy":
            destroy()
            print("sandbox destroyed")
    except SandboxError as e:
        print(f"sandbox: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sandbox: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
