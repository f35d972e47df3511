"""Rendering asterisk/config/*.conf into an instance's own etc directory."""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil

from .host import SandboxError, write_private
from .layout import CONFIG_DIR, MOD_DIR, instance_dir_in_rootfs, instance_dir_on_host, rootfs_path

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def render_template(text: str, values: dict) -> str:
    """Replace {{name}} placeholders (Asterisk's own ${VAR} stays untouched)."""
    def sub(m):
        key = m.group(1)
        if key not in values:
            raise SandboxError(f"config template needs unknown value {{{{{key}}}}}")
        return str(values[key])
    return _PLACEHOLDER.sub(sub, text)


def _trunk_host_port(uri: str) -> tuple[str, str]:
    """The host (IPv6 without brackets) and port ("" when none) of a SIP URI."""
    rest = re.sub(r"^sips?:", "", uri).split(";", 1)[0].split("?", 1)[0]
    rest = rest.rsplit("@", 1)[-1]
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        return host, tail.lstrip(":")
    host, _, port = rest.partition(":")
    return host, port


def _trunk_host(uri: str) -> str:
    return _trunk_host_port(uri)[0]


def trunk_match(uri: str) -> str:
    """What identifies a request as the trunk's: its host, and its port when the
    URI names one (`127.0.0.1:5070`, `[::1]:5070`), so that other SIP peers on
    the trunk's host (the instance's own test-number leg, softphones on
    127.0.0.1) are not taken for the trunk."""
    host, port = _trunk_host_port(uri)
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


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
                  trunk_host=_trunk_host(state["trunk_uri"]),
                  trunk_match=trunk_match(state["trunk_uri"]))
    rendered = set()
    for src in sorted(glob.glob(os.path.join(CONFIG_DIR, "*.conf"))):
        name = os.path.basename(src)
        with open(src) as f:
            text = render_template(f.read(), values)
        write_private(os.path.join(etc, name), text)
        rendered.add(name)
    # files taken from the package as they are (ringing tones etc.)
    for name in ("indications.conf",):
        if name in rendered:
            continue
        pkg = os.path.join(rootfs, "etc/asterisk", name)
        if os.path.isfile(pkg):
            shutil.copyfile(pkg, os.path.join(etc, name))
    return etc
