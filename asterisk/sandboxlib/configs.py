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


def _hostport(uri: str) -> str:
    rest = re.sub(r"^sips?:", "", uri).split(";", 1)[0].split("?", 1)[0]
    return rest.rsplit("@", 1)[-1]


def _trunk_host(uri: str) -> str:
    rest = _hostport(uri)
    if rest.startswith("["):
        return rest[1:rest.index("]")]
    return rest.split(":", 1)[0]


def _trunk_match(uri: str) -> str:
    """The trunk's identify match: its host, with its port when the URI has one,
    so that a softphone registering from the trunk's host is not taken for the trunk."""
    rest = _hostport(uri)
    if rest.startswith("[") and "]:" not in rest:
        return rest[1:rest.index("]")]
    return rest


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
                  trunk_match=_trunk_match(state["trunk_uri"]))
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
