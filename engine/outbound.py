"""The HTTP side of the egress guard (engine/egress.py): how a delivery is sent.

The client session connects only to addresses the policy allows: its resolver
drops refused addresses from what a name resolves to, and the connector then
connects to one of those it returned, so a name cannot resolve to one
address when checked and another when connected. aiohttp does not resolve an
IP-literal host, so `send` checks the URL itself first. No redirect is
followed, credentials in the URL are refused, and at most REPLY_LIMIT bytes of
the reply are read, as sent (nothing is decompressed); the rest is left unread
and its connection dropped.
"""
from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from engine.egress import EgressRefused, address_refusal, allow_list, literal_address, url_refusal

REPLY_LIMIT = 4096


class CheckedResolver(AbstractResolver):
    """A resolver that returns only the addresses the egress policy allows;
    EgressRefused, naming why, when it allows none of them."""

    def __init__(self, allow: tuple[str, ...], inner: AbstractResolver | None = None) -> None:
        self._allow = allow_list(allow)
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept, reasons = [], []
        for result in found:
            address = literal_address(result["host"])
            reason = (f"{result['host']!r} is not an IP address" if address is None
                      else address_refusal(address, self._allow))
            if reason is None:
                kept.append(result)
            elif reason not in reasons:
                reasons.append(reason)
        if found and not kept:
            raise EgressRefused(f"{host} resolves only to refused addresses: "
                                + "; ".join(reasons[:4]))
        return kept

    async def close(self) -> None:
        await self._inner.close()


@asynccontextmanager
async def outbound_session(allow: tuple[str, ...],
                           timeout: float) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for deliveries: checked addresses, no decompression,
    no proxy from the environment."""
    resolver = CheckedResolver(allow)
    connector = aiohttp.TCPConnector(resolver=resolver)
    try:
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                         trust_env=False,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            yield http
    finally:
        await resolver.close()


async def send(http: aiohttp.ClientSession, allow: tuple[str, ...], method: str, url: str, *,
               data: str | None, headers: dict[str, str]) -> int:
    """Send one request and return the reply's status (a redirect's own).

    EgressRefused, before anything is sent, when the URL or the address it
    leads to is refused.
    """
    reason = url_refusal(url, allow)
    if reason is not None:
        raise EgressRefused(reason)
    async with http.request(method, url, data=data, headers=headers,
                            allow_redirects=False) as resp:
        left = REPLY_LIMIT
        while left > 0 and (chunk := await resp.content.read(left)):
            left -= len(chunk)
        if not resp.content.at_eof():
            resp.close()  # the rest is never read: drop the connection
        return resp.status


def failure_text(exc: BaseException) -> str:
    """What went wrong, for logs and the stored last_error. Never the
    exception's own text: aiohttp's may carry the URL, and with it its query."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    name = type(exc).__name__
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, OSError) and cause.strerror:
        return f"{name}: {cause.strerror}"
    return name
