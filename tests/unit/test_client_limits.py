"""Client limits' pure parts: whose address a request is counted under, the
Retry-After value, the settings' rates, and the process's memory of refusals."""
from __future__ import annotations

import ipaddress
import time

import pytest
from redis.asyncio import Redis

from api import client_limits
from api.client_limits import ClientLimits, bucket_name, client_address, retry_after
from engine.client_limits import NO_BUCKETS, Buckets, Rate
from engine.keys import API_KEY_BUCKET_PREFIX, address_bucket_key
from engine.settings import Settings

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:ff::/48"))


@pytest.mark.parametrize("peer, forwarded, client", [
    # No proxy trusted, or the peer is not one: the peer, whatever the header says.
    ("198.51.100.7", [], "198.51.100.7"),
    ("198.51.100.7", ["203.0.113.5"], "198.51.100.7"),
    # A trusted proxy: the right-most entry, which it wrote.
    ("10.0.0.2", ["203.0.113.5"], "203.0.113.5"),
    # Entries left of the first untrusted one are the client's own word.
    ("10.0.0.2", ["192.0.2.66, 203.0.113.5"], "203.0.113.5"),
    # A chain of trusted proxies is walked from the right.
    ("10.0.0.2", ["203.0.113.5, 10.0.0.9, 10.1.2.3"], "203.0.113.5"),
    # Several headers are one list, in order.
    ("10.0.0.2", ["192.0.2.66", "203.0.113.5, 10.0.0.9"], "203.0.113.5"),
    # Every entry trusted: the left-most.
    ("10.0.0.2", ["10.0.0.7, 10.0.0.9"], "10.0.0.7"),
    # No header from a trusted proxy: the proxy itself.
    ("10.0.0.2", [], "10.0.0.2"),
    # An entry that is no address ends the search at the peer.
    ("10.0.0.2", ["203.0.113.5, bogus"], "10.0.0.2"),
    ("10.0.0.2", [""], "10.0.0.2"),
    # Ports and brackets, as some proxies write them.
    ("10.0.0.2", ["203.0.113.5:4711"], "203.0.113.5"),
    ("10.0.0.2", ["[2001:db8::1]:443"], "2001:db8::1"),
    ("10.0.0.2", ["2001:db8::1"], "2001:db8::1"),
    # IPv6 proxies; an IPv4 address seen through a dual-stack socket.
    ("2001:db8:ff::1", ["203.0.113.5"], "203.0.113.5"),
    ("::ffff:10.0.0.2", ["203.0.113.5"], "203.0.113.5"),
    ("::ffff:198.51.100.7", ["203.0.113.5"], "::ffff:198.51.100.7"),
    # No peer address (a Unix socket).
    (None, ["203.0.113.5"], "-"),
])
def test_the_client_address(peer, forwarded, client):
    assert client_address(peer, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_is_never_read():
    assert client_address("10.0.0.2", ["203.0.113.5"], ()) == "10.0.0.2"


@pytest.mark.parametrize("address, name", [
    ("198.51.100.7", "198.51.100.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("-", "-"),
])
def test_ipv6_clients_are_counted_by_their_64(address, name):
    assert bucket_name(address) == name


@pytest.mark.parametrize("wait_ms, header", [(1, "1"), (999, "1"), (1000, "1"), (1001, "2"),
                                             (5000, "5"), (86_400_000, "86400")])
def test_retry_after_is_whole_seconds_until_a_token(wait_ms, header):
    assert retry_after(wait_ms) == header


@pytest.mark.parametrize("setting, rate", [("50/100", Rate(50.0, 100)), ("20", Rate(20.0, 40)),
                                           ("0.5/1", Rate(0.5, 1)), ("0", Rate(0.0, 0))])
def test_rates_from_the_settings(setting, rate):
    assert Rate.of(setting) == rate
    assert Rate.of(setting).limited == (rate.per_second > 0)


def limits(**settings) -> ClientLimits:
    # A client of a port nothing listens on: a test that reached Redis would fail.
    return ClientLimits(Settings(**settings), Redis.from_url("redis://127.0.0.1:1/0"))


def test_the_buckets_a_request_takes_from():
    on = limits(rate_per_address="20/40", rate_per_key="50/100")
    assert on.buckets("2001:db8::5", API_KEY_BUCKET_PREFIX) == Buckets(
        address_bucket_key("2001:db8::/64"), Rate(20.0, 40), API_KEY_BUCKET_PREFIX, Rate(50.0, 100))
    assert on.buckets("198.51.100.7", "").args() == [20.0, 40, "", 50.0, 100]
    key_only = limits(rate_per_address="0", rate_per_key="50/100")
    assert key_only.buckets("198.51.100.7", API_KEY_BUCKET_PREFIX).address_key == ""
    assert limits(rate_per_address="0", rate_per_key="0").buckets("198.51.100.7", "x") == NO_BUCKETS


async def test_no_address_limit_and_no_credential_asks_redis_nothing():
    assert await limits(rate_per_address="0").take("198.51.100.7") == (0, "")


def test_a_refused_address_waits_until_its_token_is_due():
    memory = limits()
    assert memory.waiting("198.51.100.7") == 0
    memory.refused("198.51.100.7", 1500, by_address=True)
    assert 1400 < memory.waiting("198.51.100.7") <= 1500
    assert memory.waiting("198.51.100.8") == 0
    # An IPv6 client's whole /64 waits.
    memory.refused("2001:db8:1:2::1", 1500, by_address=True)
    assert memory.waiting("2001:db8:1:2::ffff") > 0
    assert memory.waiting("2001:db8:1:3::1") == 0


def test_an_accounts_refusal_is_not_the_addresss():
    memory = limits()
    memory.refused("198.51.100.7", 1500, by_address=False)
    assert memory.waiting("198.51.100.7") == 0


def test_a_wait_ends():
    memory = limits()
    memory.refused("198.51.100.7", 1, by_address=True)
    time.sleep(0.01)
    assert memory.waiting("198.51.100.7") == 0
    assert memory._due == {}


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(client_limits, "MAX_REMEMBERED", 3)
    memory = limits()
    memory.refused("192.0.2.1", 1, by_address=True)
    time.sleep(0.01)
    for host in (2, 3, 4):  # the expired one makes room
        memory.refused(f"192.0.2.{host}", 60_000, by_address=True)
    assert sorted(memory._due) == ["192.0.2.2", "192.0.2.3", "192.0.2.4"]
    memory.refused("192.0.2.5", 60_000, by_address=True)  # full of waits: forget them
    assert list(memory._due) == ["192.0.2.5"]
