"""Per-instance state files and the settings (ports, trunk) an instance should run with."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket

from .host import SandboxError, write_private
from .layout import sandbox_dir, state_path
from .processes import pid_alive

DEFAULT_TRUNK_URI = "sip:127.0.0.1:5070"
# Where SIP and the softphones' RTP listen (CALLVERIFY_SIP_BIND): loopback,
# unless a phone on another device must reach the sandbox.
DEFAULT_SIP_BIND = "127.0.0.1"
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
    """Ports, trunk URI and SIP bind address: overrides, else the instance's
    defaults (the environment's CALLVERIFY_TRUNK_URI, CALLVERIFY_SIP_BIND), else its last run."""
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
    wanted["sip_bind"] = _sip_bind(instance, old, overrides)
    return wanted


def _sip_bind(instance: str, old: dict | None, overrides: dict) -> str:
    bind = overrides.get("sip_bind") or os.environ.get("CALLVERIFY_SIP_BIND")
    if not bind and instance not in INSTANCE_DEFAULTS and old:
        bind = old.get("sip_bind")
    bind = (bind or DEFAULT_SIP_BIND).strip()
    try:
        address = ipaddress.IPv4Address(bind)
    except ValueError:
        raise SandboxError(f"CALLVERIFY_SIP_BIND {bind!r} is not an IPv4 address "
                           "(one of this machine's, e.g. 192.168.1.20)") from None
    if address.is_unspecified or address.is_multicast:
        raise SandboxError(f"CALLVERIFY_SIP_BIND {bind!r}: give one address of this machine, "
                           "the one phones register to")
    return bind


def _port_free(port: int, kind: int, address: str = "127.0.0.1") -> bool:
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((address, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_ports(instance: str, wanted: dict) -> None:
    """Refuse ports another running instance holds or anything has bound on
    127.0.0.1 (ARI, AMI) or the SIP bind address."""
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
    for key, kind in (("http_port", socket.SOCK_STREAM), ("ami_port", socket.SOCK_STREAM)):
        if not _port_free(wanted[key], kind):
            raise SandboxError(f"{key} {wanted[key]} on 127.0.0.1 is already in use")
    bind = wanted.get("sip_bind", DEFAULT_SIP_BIND)
    if not _port_free(wanted["sip_port"], socket.SOCK_DGRAM, bind):
        raise SandboxError(f"sip_port {wanted['sip_port']} on {bind} is already in use, or "
                           f"{bind} is not an address of this machine (CALLVERIFY_SIP_BIND)")
