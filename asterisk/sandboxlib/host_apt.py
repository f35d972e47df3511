"""What the build borrows from the host's apt: its mirror, its proxy, debootstrap."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

from .host import SandboxError, log, run_checked


def _sources_entries() -> list[tuple[str, list[str], list[str]]]:
    """(uri, suites, components) of every deb source, one-line and deb822 formats."""
    entries: list[tuple[str, list[str], list[str]]] = []
    one_line = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
    for path in one_line:
        try:
            with open(path) as f:
                text = f.read()
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
            with open(path) as f:
                text = f.read()
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
    return entries


def host_mirror() -> str | None:
    """The Debian archive URI the host's apt uses (None: debootstrap default)."""
    override = os.environ.get("CALLVERIFY_SANDBOX_MIRROR")
    if override:
        return override
    best = None
    for uri, suites, comps in _sources_entries():
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


def ensure_debootstrap(log_file: str) -> str:
    """Path of debootstrap, installed on the host with apt-get if missing."""
    found = shutil.which("debootstrap") or (
        "/usr/sbin/debootstrap" if os.path.exists("/usr/sbin/debootstrap") else None)
    if found:
        return found
    log("installing debootstrap on the host (apt-get)")
    run_checked(["apt-get", "update", "-q"], log_file, "apt-get update")
    run_checked(["apt-get", "install", "-y", "-q", "debootstrap"], log_file,
                "apt-get install debootstrap")
    found = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(found):
        raise SandboxError("debootstrap is still missing after apt-get install")
    return found


def host_apt_proxy_lines() -> list[str]:
    """The host's apt proxy settings, as apt.conf lines for the chroot."""
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
