"""Client limits at the HTTP front: who the client is, and whether it may send.

The client is the peer's address; when the peer is a trusted proxy
(CALLVERIFY_TRUSTED_PROXIES), it is the right-most X-Forwarded-For entry that
is not a trusted proxy (`client_address`). An IPv6 client is counted by its
/64, the block one subscriber gets, so it cannot walk its own addresses to
escape the limit (`bucket_name`).

The buckets are Redis's (engine/client_limits.py). This process also keeps,
for each address Redis refused, the time its next token is due, and answers
429 before then without asking Redis: a flood from one address costs Redis
about two scripts per token it earns, whatever the flood's rate. Refusing
from that memory is never wrong: until the due time no process can find a
token there (tokens are only taken, never given back).
"""
from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Iterable

from aiohttp import web
from redis.asyncio import Redis

from engine.client_limits import NO_BUCKETS, Buckets, ClientBuckets, Rate
from engine.keys import address_bucket_key
from engine.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "-"  # a peer without an address (a Unix socket)
MAX_REMEMBERED = 10_000  # addresses refused lately, kept in this process


def parse_address(text: str) -> IPAddress | None:
    """An address as a peer or an X-Forwarded-For entry gives it (with or
    without a port: 1.2.3.4:80, [2001:db8::1]:80); None if it is none."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   trusted: tuple[Network, ...]) -> str:
    """The client's address: the peer's, unless the peer is in `trusted`; then
    the right-most entry of the X-Forwarded-For headers (in order) that is
    not. Entries left of that one are the client's own word and never read;
    an entry that is no address (the proxy passed on what it was sent) ends
    the search at the peer. Every entry trusted: the left-most."""
    if not peer:
        return UNKNOWN
    found = parse_address(peer)
    if found is None or not is_trusted(found, trusted):
        return peer
    entries = [entry for header in forwarded_for for entry in header.split(",")]
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            return peer
        found = address
        if not is_trusted(address, trusted):
            break
    return str(found)


def bucket_name(address: str) -> str:
    """The name an address is counted under: itself, or an IPv6 address's /64."""
    if ":" not in address:
        return address
    parsed = parse_address(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    return str(ipaddress.IPv6Network((parsed, 64), strict=False))


def retry_after(wait_ms: int) -> str:
    """The Retry-After value: whole seconds until a token, at least 1."""
    return str(max(1, math.ceil(wait_ms / 1000)))


class ClientLimits:
    """The settings' limits for one API process, on the Store's Redis."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.per_address = Rate.of(settings.rate_per_address)
        self.per_key = Rate.of(settings.rate_per_key)
        self.trusted = tuple(ipaddress.ip_network(network, strict=False)
                             for network in settings.trusted_proxies)
        self._buckets = ClientBuckets(redis)
        self._due: dict[str, float] = {}  # bucket name -> time.monotonic() of its next token

    def client(self, request: web.Request) -> str:
        """The request's client address (see `client_address`)."""
        if not self.trusted:
            return request.remote or UNKNOWN
        return client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                              self.trusted)

    def buckets(self, client: str, account_prefix: str) -> Buckets:
        """The client's address bucket, then the account's (named by `account_prefix`)."""
        if not (self.per_address.limited or self.per_key.limited):
            return NO_BUCKETS
        address_key = address_bucket_key(bucket_name(client)) if self.per_address.limited else ""
        return Buckets(address_key, self.per_address, account_prefix, self.per_key)

    def waiting(self, client: str) -> int:
        """Milliseconds until `client`'s address has a token again, as Redis
        last said; 0 when this process knows of no wait."""
        if not self._due:
            return 0
        name = bucket_name(client)
        due = self._due.get(name)
        if due is None:
            return 0
        left = due - time.monotonic()
        if left <= 0:
            del self._due[name]
            return 0
        return math.ceil(left * 1000)

    def refused(self, client: str, wait_ms: int, *, by_address: bool) -> None:
        """Note a refusal Redis gave; one by the address's bucket is kept
        until its token is due (an account's bucket is not the address's)."""
        if not by_address:
            return
        now = time.monotonic()
        if len(self._due) >= MAX_REMEMBERED:
            self._due = {name: due for name, due in self._due.items() if due > now}
            if len(self._due) >= MAX_REMEMBERED:
                self._due.clear()  # forgetting only costs Redis a script per address
        self._due[bucket_name(client)] = now + wait_ms / 1000

    async def admit(self, request: web.Request, account_prefix: str = "",
                    index_key: str = "") -> tuple[str, int, str]:
        """`take` for the request's client, unless this process knows its
        address must wait: (client address, milliseconds to wait, account id)."""
        client = self.client(request)
        wait = self.waiting(client)
        if wait:
            return client, wait, ""
        return client, *await self.take(client, account_prefix, index_key)

    async def take(self, client: str, account_prefix: str = "",
                   index_key: str = "") -> tuple[int, str]:
        """Take the client's tokens, then (with `index_key`, a credential's
        index) the account's; (milliseconds to wait, 0 if allowed; the account
        id `index_key` names, "" for none). Without an index and without an
        address limit, Redis is not asked."""
        buckets = self.buckets(client, account_prefix)
        if not index_key and not buckets.address_key:
            return 0, ""
        wait, account_id = await self._buckets.take(buckets, index_key)
        if wait:
            self.refused(client, wait, by_address=not account_id)
        return wait, account_id
