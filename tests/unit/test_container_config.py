"""The Asterisk image renders asterisk/config as the sandbox does.

The image has no Python, so its entry point (containers/asterisk-entrypoint.sh)
renders the templates with awk, each {{name}} from ASTERISK_<NAME>. Here it
renders the repository's templates on the host and must write, file for file,
what the sandbox's own render_template writes for the same values, so a new
placeholder or a derived value the sandbox adds shows here first.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "containers" / "asterisk-entrypoint.sh"
TEMPLATES = ROOT / "asterisk" / "config"
sys.path.insert(0, str(ROOT / "asterisk"))

from sandboxlib import configs  # noqa: E402

STATE = {"instance": "pod", "http_port": 8688, "sip_port": 5660, "ami_port": 5638,
         "rtp_start": 23000, "rtp_end": 24499, "sip_bind": "127.0.0.1", "ari_user": "callverify",
         "ari_password": "ari-Secret_1", "ami_user": "callverify", "ami_password": "ami-Secret_2",
         "inst_dir": "/var/lib/callverify-asterisk",
         "mod_dir": "/usr/lib/x86_64-linux-gnu/asterisk/modules"}


def render_in_container_way(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ENTRYPOINT), "render"], capture_output=True, text=True,
                          timeout=30, env={"PATH": os.environ["PATH"],
                                           "ASTERISK_TEMPLATES": str(TEMPLATES),
                                           "ASTERISK_INST_DIR": str(tmp_path), **env})


def container_env(state: dict) -> dict[str, str]:
    return {f"ASTERISK_{key.upper()}": str(value) for key, value in state.items()
            if key != "inst_dir"}


@pytest.mark.parametrize("trunk_uri", ["sip:127.0.0.1:5670", "sip:carrier.example",
                                       "sip:gw@[2001:db8::5]:5080;transport=udp"])
def test_the_entrypoint_renders_every_template_as_the_sandbox(tmp_path, trunk_uri):
    state = {**STATE, "trunk_uri": trunk_uri}
    done = render_in_container_way(tmp_path, container_env(state))
    assert done.returncode == 0, done.stderr
    # the values the sandbox renders with (asterisk/sandboxlib/configs.render_configs)
    values = {**state, "inst_dir": str(tmp_path),
              "trunk_host": configs._trunk_host(trunk_uri),
              "trunk_match": configs.trunk_match(trunk_uri)}
    names = sorted(path.name for path in TEMPLATES.glob("*.conf"))
    assert sorted(path.name for path in (tmp_path / "etc").glob("*.conf")) == names
    for name in names:
        want = configs.render_template((TEMPLATES / name).read_text(), values)
        assert (tmp_path / "etc" / name).read_text() == want, name


def test_the_ari_password_is_required(tmp_path):
    env = container_env({**STATE, "trunk_uri": "sip:127.0.0.1:5670"})
    del env["ASTERISK_ARI_PASSWORD"]
    done = render_in_container_way(tmp_path, env)
    assert done.returncode == 2
    assert "ASTERISK_ARI_PASSWORD" in done.stderr


def test_a_password_file_stands_in_for_the_variable(tmp_path):
    env = container_env({**STATE, "trunk_uri": "sip:127.0.0.1:5670"})
    del env["ASTERISK_ARI_PASSWORD"]
    secret = tmp_path / "ari-password"
    secret.write_text("from-a-file")
    done = render_in_container_way(tmp_path, {**env, "ASTERISK_ARI_PASSWORD_FILE": str(secret)})
    assert done.returncode == 0, done.stderr
    assert "password = from-a-file\n" in (tmp_path / "etc" / "ari.conf").read_text()


@pytest.mark.parametrize("name,value", [("ASTERISK_SIP_PORT", "50x"), ("ASTERISK_HTTP_PORT", "70000"),
                                        ("ASTERISK_RTP_END", "100"), ("ASTERISK_TRUNK_URI", "127.0.0.1")])
def test_a_bad_value_is_named(tmp_path, name, value):
    env = container_env({**STATE, "trunk_uri": "sip:127.0.0.1:5670"})
    done = render_in_container_way(tmp_path, {**env, name: value})
    assert done.returncode == 2
    assert done.stderr.startswith("callverify-asterisk: ") and name in done.stderr
    assert not (tmp_path / "etc" / "pjsip.conf").exists()


def test_a_placeholder_without_a_value_is_named(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "extra.conf").write_text("[x]\nvalue = {{ new_thing }}\n")
    env = container_env({**STATE, "trunk_uri": "sip:127.0.0.1:5670"})
    done = render_in_container_way(tmp_path / "inst", {**env, "ASTERISK_TEMPLATES": str(templates)})
    assert done.returncode == 2
    assert "extra.conf needs {{new_thing}}: set ASTERISK_NEW_THING" in done.stderr
