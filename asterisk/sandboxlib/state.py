"""Per-instance state files and the settings (ports, trunk) an instance should run with."""

from __future__ import annotations

import json
import os
import re
import socket

from .host import SandboxError, write_private
from .layout import sandbox_dir, state_path
from .processes import pid_alive

DEFAULT_TRUNK_URI = "sip:127.0.0.1:5070"
INSTANCE_DEFAULTS = {
    "main": {"http_port": 8088, "sip_port": 5060, "ami_port": 5038,
             "rtp_start": 10000, "rtp_end": 14999},
    "test": {"http_port": 8188, "sip_port": 5160, "ami_port": 5138,
             "rtp_start": 15000, "rtp_end": 19999},
}
PORT_KEYS = ("http_port", "sip_port", "ami_port", "rtp_start", "rtp_end")


def load_state(instance: str = "main") -> dict | None:
    """The instance's state file as a dict (None if it was never started)."""
    try:
        with open(state_path(instance)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_state(instance: str, state: dict) -> None:
    write_private(state_path(instance), json.dumps(state, indent=2, sort_keys=True) + "\n")


def known_instances() -> list[str]:
    """Names of every instance that has a directory in the cache."""
    base = os.path.join(sandbox_dir(), "instances")
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


def wanted_settings(instance: str, old: dict | None, overrides: dict) -> dict:
    """Ports and trunk URI: overrides, else the instance's defaults, else its last run."""
    defaults = INSTANCE_DEFAULTS.get(instance, {})
    wanted: dict = {}  # the ports (int), then the trunk URI (str)
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


def check_ports(instance: str, wanted: dict) -> None:
    """Refuse ports another running instance holds or anything on 127.0.0.1 has bound."""
    for other in known_instances():
        if other == instance:
            continue
        st = load_state(other)
        if not st or not pid_alive(st.get("pid"), st.get("asterisk_conf")):
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
