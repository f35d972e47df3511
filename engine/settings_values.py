"""The checks behind engine/settings_rules.py's RULES: the patterns and
value tests each setting's rule applies (a value that is no text, number or
list of the kind fails them, or makes them raise TypeError or ValueError,
which the rules count as failing)."""
from __future__ import annotations

import ipaddress
import math
import re
from typing import Any
from urllib.parse import urlsplit

from engine.caller_ids import caller_id_problem

# engine.flows.reverse_verify.DEFAULT_PROMPTS' keys (a unit test keeps them equal).
PROMPT_NAMES = ("enter_code", "incorrect", "verified", "goodbye")
HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"{HOST_LABEL}(?:\.{HOST_LABEL})*")
DOTTED_NUMBERS = re.compile(r"[0-9.]+")
PORT = re.compile(r"[0-9]{1,5}")
COUNTRY = re.compile(r"[1-9][0-9]{0,2}")
PREFIX_DIGITS = re.compile(r"[1-9][0-9]{0,14}")
REGION = re.compile(r"[A-Z]{2}")  # ISO 3166-1 alpha-2, as phonenumbers names regions
CLI_PREFIX = re.compile(r"(?:[1-9][0-9]{0,10})?")
CALLER_ID = re.compile(r"[0-9]{1,15}")
INSTANCE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # asterisk/sandboxlib/host.py
SIP_URI = re.compile(r"sips?:[^\s\"'<>;]+(;[^\s\"'<>]*)?")  # asterisk/sandboxlib/state.py
ENDPOINT = re.compile(r"[^\s/@,&]+")
APP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
ORIGIN = re.compile(r"https?://[^/?#@\s]+")



def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_port(text: str) -> bool:
    return PORT.fullmatch(text) is not None and 1 <= int(text) <= 65535


def is_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        ipaddress.IPv6Address(host[1:-1])  # ValueError: not an address
        return True
    if DOTTED_NUMBERS.fullmatch(host):
        ipaddress.IPv4Address(host)
        return True
    return HOSTNAME.fullmatch(host) is not None


def is_listen(value: str) -> bool:
    host, colon, port = value.rpartition(":")
    return bool(colon) and is_port(port) and (host == "" or is_host(host))


def is_url(value: str, schemes: tuple[str, ...]) -> bool:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        return False
    return parts.port is None or 1 <= parts.port <= 65535  # .port: ValueError if not a number


def is_redis_url(value: str) -> bool:
    parts = urlsplit(value)
    if parts.scheme == "unix":
        return bool(parts.path)
    return is_url(value, ("redis", "rediss")) and re.fullmatch(r"/?([0-9]+)?", parts.path) is not None


def is_ari_url(value: str) -> bool:
    parts = urlsplit(value)
    return is_url(value, ("http", "https")) and not parts.query and not parts.fragment


def is_origins(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and all(
        isinstance(o, str) and ORIGIN.fullmatch(o) and is_url(o, ("http", "https")) for o in value)


def is_prices(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and COUNTRY.fullmatch(k) and is_whole(p) and p >= 0
        for k, p in value.items())


def is_region_prices(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and (REGION.fullmatch(k) or PREFIX_DIGITS.fullmatch(k))
        and is_whole(p) and p >= 0 for k, p in value.items())


def is_networks(value: Any) -> bool:
    if not isinstance(value, (tuple, list)):
        return False
    for network in value:
        ipaddress.ip_network(network, strict=False)  # ValueError: not a CIDR
    return True


def is_prompts(value: Any) -> bool:
    def media(v: Any) -> bool:
        if isinstance(v, str):
            return bool(v.strip())
        return isinstance(v, list) and bool(v) and all(isinstance(m, str) and m.strip() for m in v)
    return isinstance(value, dict) and all(k in PROMPT_NAMES and media(v) for k, v in value.items())


def is_default_caller_id(value: Any) -> bool:
    return (isinstance(value, str) and CALLER_ID.fullmatch(value) is not None
            and (not value.strip("0") or caller_id_problem(value) is None))


def is_text(value: Any) -> bool:
    return isinstance(value, str)


RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(?:/([0-9]+))?")


def rate_and_burst(value: str) -> tuple[float, int]:
    """A `RATE[/BURST]` setting as (tokens a second, bucket size); the burst
    defaults to twice the rate (at least 1). (0, 0) means no limit."""
    match = RATE.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    rate = float(match.group(1))
    if rate == 0:
        return 0.0, 0
    burst = int(match.group(2)) if match.group(2) else max(1, math.ceil(2 * rate))
    if burst < 1:
        raise ValueError(value)
    return rate, burst


def is_rate(value: Any) -> bool:
    return isinstance(value, str) and rate_and_burst(value) is not None
