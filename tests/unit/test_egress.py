"""The egress guard's address policy and URL check (engine/egress.py), the
resolver that filters what a name resolves to, and what a failure may say."""
from __future__ import annotations

import ipaddress
import socket

import aiohttp
import pytest
from yarl import URL

from api.admin import AdminError, webhook_url
from api.reverse_verify import ReturnCode, ReverseVerifyRequest, parse_request
from engine.delivery_record import Delivery, new_delivery
from engine.egress import EgressRefused, address_refusal, allow_list, host_of, url_refusal
from engine.outbound import CheckedResolver, failure_text

GOOD = {"api_key": "k" * 32, "phone_number": "5551234567", "country_code": "1",
        "code": "4345", "callback_url": "http://site.example/cb"}

# Each address form the review reached a local listener with, and the reason.
REFUSED_ADDRESSES = [
    ("http://127.0.0.1/cb", "127.0.0.1 is loopback"),
    ("http://127.8.9.10:8080/cb", "127.8.9.10 is loopback"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
    ("http://10.0.0.1/cb", "10.0.0.1 is private"),
    ("http://172.16.0.1/cb", "172.16.0.1 is private"),
    ("http://172.31.255.254/cb", "172.31.255.254 is private"),
    ("http://192.168.1.1/cb", "192.168.1.1 is private"),
    ("http://[::1]/cb", "::1 is loopback"),
    ("http://[fd00::1]/cb", "fd00::1 is private (unique local)"),
    ("http://[fe80::1]/cb", "fe80::1 is link-local"),
    ("http://[::ffff:127.0.0.1]/cb", "::ffff:7f00:1 is IPv4-mapped"),
    ("http://[::ffff:8.8.8.8]/cb", "::ffff:808:808 is IPv4-mapped"),
    ("http://[64:ff9b::7f00:1]/cb", "64:ff9b::7f00:1 is NAT64"),
    ("http://[64:ff9b:1::1]/cb", "64:ff9b:1::1 is NAT64"),
    ("http://[2002:7f00:1::1]/cb", "2002:7f00:1::1 is 6to4 (127.0.0.1 is loopback)"),
    ("http://[2001::1]/cb", "2001::1 is Teredo"),
    ("http://100.64.0.1/cb", "100.64.0.1 is CGNAT"),
    ("http://0.0.0.0/cb", "0.0.0.0 is unspecified"),
    ("http://[::]/cb", ":: is unspecified"),
    ("http://224.0.0.1/cb", "224.0.0.1 is multicast"),
    ("http://[ff02::1]/cb", "ff02::1 is multicast"),
    ("http://255.255.255.255/cb", "255.255.255.255 is broadcast"),
    ("http://240.0.0.1/cb", "240.0.0.1 is reserved"),
    ("http://192.0.2.1/cb", "192.0.2.1 is documentation"),
    ("http://[2001:db8::1]/cb", "2001:db8::1 is documentation"),
    ("http://198.18.0.1/cb", "198.18.0.1 is benchmarking"),
]

# Hosts that are no name and no canonical address, and other bad URLs.
REFUSED_URLS = [
    ("http://0/", "not a valid host name"),
    ("http://2130706433/", "not a valid host name"),
    ("http://0177.0.0.1/", "not a valid host name"),
    ("http://0x7f.0.0.1/", "not a valid host name"),
    ("http://0x7f000001/", "not a valid host name"),
    ("http://127.1/", "not a valid host name"),
    ("http://1.2.3.4.5/", "not a valid host name"),
    ("http://a%5Cb/cb", "not a valid host name"),
    ("http://a%2eb/cb", "not a valid host name"),
    ("http://a_b.example/cb", "not a valid host name"),
    ("http://a\\b/cb", "not a valid URL"),
    ("http://ex\u00adample.com/cb", "invisible"),  # a soft hyphen
    ("http://ex\u200bample.com/cb", "invisible"),  # a zero-width space
    ("http://example.com/\u202ecb", "invisible"),  # a right-to-left override
    ("http://example.com/a b", "white space"),
    ("http://xn--zz/cb", "not a valid URL"),  # bad punycode
    ("http://user:pw@site.example/cb", "credentials"),
    ("http://user@site.example/cb", "credentials"),
    ("http://:pw@site.example/cb", "credentials"),
    ("http://site.example:0/cb", "port"),
    ("http://site.example:99999/cb", "not a valid URL"),
    ("ftp://site.example/cb", "http(s)"),
    ("site.example/cb", "http(s)"),
    ("http:///cb", "http(s)"),
    ("javascript:alert(1)", "http(s)"),
    ("http://site.example/" + "a" * 2048, "longer than 2048"),
]

ACCEPTED = [
    "http://site.example/cb", "https://h.example:8443/cb?x=1", "http://8.8.8.8/cb",
    "http://[2001:4860:4860::8888]/cb", "http://bücher.example/cb",
    "http://xn--bcher-kva.example/cb", "HTTPS://Site.Example./cb", "http://a-b.c0.example/cb",
    "http://site.example/" + "a" * 2000,
]


@pytest.mark.parametrize("url, reason", REFUSED_ADDRESSES + REFUSED_URLS)
def test_refused_urls_say_why(url, reason):
    assert reason in (url_refusal(url) or "")


@pytest.mark.parametrize("url", ACCEPTED)
def test_public_urls_pass(url):
    assert url_refusal(url) is None


@pytest.mark.parametrize("url, _", REFUSED_ADDRESSES + REFUSED_URLS)
def test_reverse_verify_answers_4_for_each_refused_url(url, _):
    assert parse_request({**GOOD, "callback_url": url}.items()) == ReturnCode.MALFORMED


@pytest.mark.parametrize("url", ACCEPTED)
def test_reverse_verify_accepts_each_public_url(url):
    assert isinstance(parse_request({**GOOD, "callback_url": url}.items()), ReverseVerifyRequest)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://[::1]/x",
                                 "http://user:pw@h.example/x"])
def test_a_webhook_url_is_refused_with_its_reason(url):
    with pytest.raises(AdminError, match="webhook URL refused"):
        webhook_url(url)


@pytest.mark.parametrize("allow, opened, still_refused", [
    (("127.0.0.0/8",),
     ["127.0.0.1", "127.255.0.1", "::ffff:127.0.0.1", "2002:7f00:1::1", "64:ff9b::7f00:1"],
     ["10.0.0.1", "::1", "128.0.0.0/1", "169.254.169.254", "::ffff:10.0.0.1"]),
    (("10.1.0.0/16",), ["10.1.0.1", "10.1.255.255"], ["10.2.0.1", "10.0.255.255", "127.0.0.1"]),
    (("::1/128",), ["::1"], ["127.0.0.1", "::2", "fd00::1"]),
    (("fd00::/8", "192.168.1.0/24"), ["fd00::1", "fdff::1", "192.168.1.77"],
     ["fc00::1", "192.168.2.1"]),
    ((), [], ["127.0.0.1", "10.0.0.1", "::1"]),
])
def test_the_allow_list_opens_exactly_its_networks(allow, opened, still_refused):
    networks = allow_list(allow)
    for text in opened:
        assert address_refusal(ipaddress.ip_address(text), networks) is None, text
        host = f"[{text}]" if ":" in text else text
        assert url_refusal(f"http://{host}/cb", allow) is None
        assert parse_request({**GOOD, "callback_url": f"http://{host}/cb"}.items(),
                             allow) != ReturnCode.MALFORMED
    for text in still_refused:
        if "/" in text:  # 128.0.0.0/1 is public: allowing a range takes nothing away
            assert address_refusal(ipaddress.ip_address("8.8.8.8"), networks) is None
            continue
        assert address_refusal(ipaddress.ip_address(text), networks) is not None, text
        host = f"[{text}]" if ":" in text else text
        assert url_refusal(f"http://{host}/cb", allow) is not None


def test_public_addresses_pass():
    for text in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1"):
        assert address_refusal(ipaddress.ip_address(text)) is None, text


class FixedResolver(aiohttp.abc.AbstractResolver):
    """Resolves every name to the given addresses."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [{"hostname": host, "host": a, "port": port, "proto": 0, "flags": 0,
                 "family": socket.AF_INET6 if ":" in a else socket.AF_INET}
                for a in self.addresses]

    async def close(self):
        pass


async def test_the_resolver_returns_only_allowed_addresses():
    resolver = CheckedResolver((), FixedResolver("127.0.0.1", "93.184.216.34", "::1"))
    assert [r["host"] for r in await resolver.resolve("mixed.example", 80)] == ["93.184.216.34"]
    allowing = CheckedResolver(("127.0.0.0/8",), FixedResolver("127.0.0.1", "::1"))
    assert [r["host"] for r in await allowing.resolve("localhost", 80)] == ["127.0.0.1"]


async def test_the_resolver_refuses_a_name_with_only_refused_addresses():
    resolver = CheckedResolver((), FixedResolver("::1", "127.0.0.1"))
    with pytest.raises(EgressRefused) as refused:
        await resolver.resolve("localhost", 80)
    assert str(refused.value) == ("localhost resolves only to refused addresses: "
                                  "::1 is loopback; 127.0.0.1 is loopback")


def test_a_failure_never_says_the_url():
    url = URL("http://h.example/cb?phone_number=5551234567&secret=s3cr3t")
    info = aiohttp.RequestInfo(url, "GET", {}, url)
    failures = [aiohttp.InvalidURL(url), aiohttp.ClientResponseError(info, (), status=500),
                aiohttp.ClientConnectorError(
                    aiohttp.client_reqrep.ConnectionKey("h.example", 80, False, True, None, None,
                                                        None),
                    ConnectionRefusedError(111, "Connection refused")),
                TimeoutError(), ValueError(str(url))]
    assert "secret=s3cr3t" in str(failures[0]) and "secret=s3cr3t" in str(failures[1])
    for exc in failures:
        text = failure_text(exc)
        assert "secret" not in text and "5551234567" not in text and "/cb" not in text, text
    assert failure_text(failures[2]) == "ClientConnectorError: Connection refused"
    assert failure_text(failures[3]) == "timed out"


def test_logs_name_a_delivery_by_its_host():
    assert host_of("http://h.example:8080/cb?secret=s") == "h.example"
    assert host_of("http://ex\u00adample.com/cb?secret=s") == "?"
    delivery = Delivery.from_new(new_delivery("GET", "http://h.example/cb", kind="callback",
                                              params={"secret": "s3cr3t"}))
    assert delivery.named.endswith("(callback to h.example)")
    assert "s3cr3t" not in delivery.named


@pytest.mark.parametrize("url", ["http://ex\u00adample.com/cb", "http://a\\b/cb"])
def test_a_url_that_cannot_be_built_makes_a_refused_delivery(url):
    new = new_delivery("GET", url, params={"secret": "s", "match": "1"}, kind="callback")
    assert new["fields"]["refused"] == "the URL cannot be built (ValueError)"
    assert Delivery.from_new(new).refused == new["fields"]["refused"]
    assert "refused" not in new_delivery("GET", "http://h.example/cb", params={"a": "1"})["fields"]
