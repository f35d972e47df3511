"""The sandbox's SIP bind address (CALLVERIFY_SIP_BIND) and the trunk's
identify match, as the sandbox renders them into pjsip.conf."""
from __future__ import annotations

from pathlib import Path

import pytest

from asterisk import sandbox  # puts asterisk/ on sys.path, for sandboxlib
from sandboxlib.state import wanted_settings

PORTS = {"http_port": 8588, "sip_port": 5560, "ami_port": 5538, "rtp_start": 21500,
         "rtp_end": 22999}


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("CALLVERIFY_SIP_BIND", raising=False)
    monkeypatch.delenv("CALLVERIFY_TRUNK_URI", raising=False)
    return monkeypatch


def test_sip_binds_loopback_unless_told(env):
    assert wanted_settings("x", None, PORTS)["sip_bind"] == "127.0.0.1"
    env.setenv("CALLVERIFY_SIP_BIND", "192.168.1.20")
    assert wanted_settings("x", None, PORTS)["sip_bind"] == "192.168.1.20"
    assert wanted_settings("x", None, {**PORTS, "sip_bind": "10.0.0.5"})["sip_bind"] == "10.0.0.5"


def test_a_named_instance_keeps_its_last_bind_the_default_ones_do_not(env):
    last = {"sip_bind": "192.168.1.20"}
    assert wanted_settings("x", last, PORTS)["sip_bind"] == "192.168.1.20"
    assert wanted_settings("main", last, {})["sip_bind"] == "127.0.0.1"


@pytest.mark.parametrize("bad", ["lan", "0.0.0.0", "192.168.1", "::1", "224.0.0.1"])
def test_a_bad_bind_is_refused_by_name(env, bad):
    env.setenv("CALLVERIFY_SIP_BIND", bad)
    with pytest.raises(sandbox.SandboxError, match="CALLVERIFY_SIP_BIND"):
        wanted_settings("x", None, PORTS)


def test_pjsip_conf_binds_on_the_address_and_matches_the_trunk_port():
    text = (Path(sandbox.CONFIG_DIR) / "pjsip.conf").read_text()
    rendered = sandbox.render_template(text, {
        "sip_bind": "192.168.1.20", "sip_port": 5560, "trunk_uri": "sip:127.0.0.1:5570",
        "trunk_match": "127.0.0.1:5570", "trunk_host": "127.0.0.1"})
    assert "bind = 192.168.1.20:5560" in rendered
    assert "match = 127.0.0.1:5570" in rendered
