"""The sandbox's rendered PJSIP config: the trunk is identified by its host
and port, the test numbers' loop leg by the instance's own SIP address."""
from __future__ import annotations

from pathlib import Path

import pytest

from asterisk.sandboxlib.configs import render_template, trunk_match

PJSIP = Path(__file__).resolve().parents[2] / "asterisk" / "config" / "pjsip.conf"


@pytest.mark.parametrize("uri,match", [
    ("sip:127.0.0.1:5070", "127.0.0.1:5070"),
    ("sip:carrier.example", "carrier.example"),
    ("sip:trunk@10.0.0.1:5080;transport=udp", "10.0.0.1:5080"),
    ("sips:carrier.example:5061?x=y", "carrier.example:5061"),
    ("sip:[::1]:5070", "[::1]:5070"),
    ("sip:[2001:db8::1]", "2001:db8::1"),
])
def test_the_trunk_is_matched_on_its_port_when_the_uri_has_one(uri, match):
    assert trunk_match(uri) == match


def sections(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """(name, type) -> options: pjsip.conf repeats a name once per object type."""
    found: dict[tuple[str, str], dict[str, str]] = {}
    name, options = "", {}
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("["):
            name, options = line.strip("[]"), {}
        elif "=" in line:
            key, _, value = (part.strip() for part in line.partition("="))
            options[key] = value
            if key == "type":
                found[(name, value)] = options
    return found


class Values(dict):
    """The values rendering takes, with a stand-in for any this test does not name."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


def test_the_loop_leg_and_the_trunk_are_told_apart_by_port():
    values = Values(sip_port=5460, sip_bind="127.0.0.1", trunk_uri="sip:127.0.0.1:5470",
                    trunk_match="127.0.0.1:5470")
    text = render_template(PJSIP.read_text(), values)
    conf = sections(text)
    assert conf[("trunk", "identify")]["match"] == "127.0.0.1:5470"
    assert conf[("testnumbers", "aor")]["contact"] == "sip:127.0.0.1:5460"
    assert conf[("testnumbers", "identify")] == {"type": "identify", "endpoint": "testnumbers",
                                                 "match": "127.0.0.1:5460"}
    loop = conf[("testnumbers", "endpoint")]
    assert (loop["context"], loop["dtmf_mode"], loop["aors"]) == ("testnumbers", "rfc4733",
                                                                   "testnumbers")
