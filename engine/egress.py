"""Where callbacks and webhooks may go: the address policy and the URL check.

An outgoing request goes only to a globally routable address, unless the
operator's allow list (`egress_allow`, CIDRs) holds it. Refused: loopback,
private, unique local, link-local, multicast, reserved, unspecified, CGNAT,
broadcast, documentation and benchmarking ranges, IPv4-mapped and NAT64
addresses (they reach an IPv4 address by another name), 6to4 of a refused
IPv4 address, Teredo, and anything else Python does not call global.

URLs are read with yarl, the parser aiohttp sends with, so what is checked
at accept time is what the deliverer connects to. `url_refusal` is used at
both ends: the API refuses a bad or literal refused URL at once, and the
deliverer checks again before each send (a name is checked once resolved:
engine/outbound.py).
"""
from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata

from yarl import URL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Networks = tuple[Network, ...]

MAX_URL = 2048
SCHEMES = ("http", "https")
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME = re.compile(rf"(?:{LABEL}\.)*{LABEL}\.?")
# A last label like these makes a browser or libc read the host as an IPv4
# number (http://2130706433/, http://0x7f.1/): not a name, and not an address.
NUMERIC_LABEL = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
# Unicode categories that show nothing or nothing certain (controls, format
# characters such as the soft hyphen and zero-width joiners, separators,
# private-use, surrogates, unassigned).
INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"})

# Named ranges, most specific first (see `_named`).
RANGES = {
    "0.0.0.0/8": "unspecified", "127.0.0.0/8": "loopback", "10.0.0.0/8": "private",
    "172.16.0.0/12": "private", "192.168.0.0/16": "private", "169.254.0.0/16": "link-local",
    "100.64.0.0/10": "CGNAT", "224.0.0.0/4": "multicast", "240.0.0.0/4": "reserved",
    "255.255.255.255/32": "broadcast", "192.0.0.0/24": "IETF protocol assignments",
    "192.0.2.0/24": "documentation", "198.51.100.0/24": "documentation",
    "203.0.113.0/24": "documentation", "198.18.0.0/15": "benchmarking",
    "::/128": "unspecified", "::1/128": "loopback", "::ffff:0:0/96": "IPv4-mapped",
    "64:ff9b::/96": "NAT64", "64:ff9b:1::/48": "NAT64", "fc00::/7": "private (unique local)",
    "fe80::/10": "link-local", "ff00::/8": "multicast", "2001:db8::/32": "documentation",
    "2001::/32": "Teredo", "100::/64": "discard-only", "::/96": "IPv4-compatible (deprecated)",
}
NAMED: tuple[tuple[Network, str], ...] = tuple(sorted(
    ((ipaddress.ip_network(cidr), name) for cidr, name in RANGES.items()),
    key=lambda pair: -pair[0].prefixlen))
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(Exception):
    """An outgoing request the egress guard refused; the text says why."""


@functools.lru_cache(maxsize=64)
def allow_list(cidrs: tuple[str, ...]) -> Networks:
    """The allowed networks of `egress_allow` (checked CIDRs, see engine/settings_rules.py)."""
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address reaches by another name, if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _named(address: Address) -> str | None:
    for network, name in NAMED:
        if address.version == network.version and address in network:
            return name
    return None


def _allowed(address: Address, allow: Networks) -> bool:
    return any(address.version == net.version and address in net for net in allow)


def address_refusal(address: Address, allow: Networks = ()) -> str | None:
    """Why `address` may not be sent to ("127.0.0.1 is loopback"), or None.

    An allowed network opens its addresses, and the IPv6 forms that embed
    one of them (an operator who allows 127.0.0.0/8 reaches it either way).
    """
    embedded = embedded_ipv4(address)
    if _allowed(address, allow) or (embedded is not None and _allowed(embedded, allow)):
        return None
    if address.version == 6 and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    name = _named(address)
    if name is None and address in SIX_TO_FOUR and embedded is not None:
        inner = address_refusal(embedded)
        if inner is not None:
            return f"{address} is 6to4 ({inner})"
    if name is None and not address.is_global:
        name = "not globally routable"
    return None if name is None else f"{address} is {name}"


def literal_address(host: str) -> Address | None:
    """The address of an IP-literal host (yarl's raw_host, IPv6 without brackets)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@functools.lru_cache(maxsize=1024)  # a site sends the same few callback URLs
def url_refusal(url: str, allow: tuple[str, ...] = ()) -> str | None:
    """Why `url` may not be a callback or webhook URL, or None.

    It must be http(s), at most MAX_URL characters with nothing invisible in
    it, with no credentials, a valid port, and a host that is an IP address
    (in no refused range, `allow` being `egress_allow`) or a valid (IDNA) host
    name that is not a number in disguise. A host name's addresses are
    checked when it is resolved, at send time. The reason never contains
    the URL's query.
    """
    if len(url) > MAX_URL:
        return f"the URL is longer than {MAX_URL} characters"
    if any(unicodedata.category(c) in INVISIBLE for c in url):
        return "the URL contains white space or invisible characters"
    try:
        parsed = URL(url)
        host = parsed.raw_host
        port = parsed.explicit_port
        parsed.host  # noqa: B018 (decodes an IDNA host: raises if it is not one)
        parsed.extend_query({"check": "1"})  # as the deliverer builds a callback's URL
    except (ValueError, TypeError):
        return "not a valid URL"
    if parsed.scheme not in SCHEMES or not parsed.is_absolute() or not host:
        return "not an http(s) URL with a host"
    if parsed.raw_user is not None or parsed.raw_password is not None or "@" in (
            parsed.raw_authority or ""):
        return "credentials in the URL are not allowed"
    if port is not None and not 1 <= port <= 65535:
        return "the port must be 1-65535"
    address = literal_address(host)
    if address is not None:
        return address_refusal(address, allow_list(allow))
    if (len(host) > 254 or not HOSTNAME.fullmatch(host)
            or NUMERIC_LABEL.fullmatch(host.rstrip(".").rsplit(".", 1)[-1])):
        return "the host is not a valid host name or IP address"
    return None


def host_of(url: str) -> str:
    """The host of `url` for logs and errors (never its path or query); "?" if none."""
    try:
        host = URL(url).raw_host
    except (ValueError, TypeError):
        return "?"
    if not host or not all(c.isascii() and c.isprintable() for c in host):
        return "?"
    return host

