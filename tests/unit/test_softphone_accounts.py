"""Softphones: where a number is dialled, what `phone add` prints, the account
it pushes, and what a call to a phone with no device registered reports."""
from __future__ import annotations

import pytest

from engine.flows.call import CallRecord
from engine.flows.password_call import call_status
from engine.flows.reverse_verify import callback_reason
from engine.outcome import CallOutcome
from engine.routes import dial_endpoint
from engine.settings import Settings
from engine.softphone_accounts import (
    MAX_CONTACTS,
    Registrar,
    account_objects,
    new_password,
    registrar_of,
    split_host_port,
)


def test_a_phone_number_rings_its_devices_never_the_trunk():
    settings = Settings()
    assert dial_endpoint("12025550143", settings, {"12025550143"}) == (
        "Local/12025550143@callverify-phones/n")
    assert dial_endpoint("12025550143", settings) == "PJSIP/12025550143@trunk"
    # A phone wins over a test number of the same digits.
    assert dial_endpoint("12025550100", settings, {"12025550100"}).startswith("Local/")


@pytest.mark.parametrize("transport,registrar", [
    ({"bind": "127.0.0.1:5560"}, Registrar("127.0.0.1", 5560, True)),
    ({"bind": "192.168.1.20"}, Registrar("192.168.1.20", 5060, True)),
    ({"bind": "0.0.0.0:5060"}, Registrar("ari.example", 5060, False)),
    ({"bind": "[::]:5062"}, Registrar("ari.example", 5062, False)),
    ({"bind": "0.0.0.0:5060", "external_signaling_address": "203.0.113.9",
      "external_signaling_port": "0"}, Registrar("203.0.113.9", 5060, False)),
    (None, Registrar("ari.example", 5060, False)),
])
def test_the_registrar_is_the_transport_address(transport, registrar):
    assert registrar_of(transport, "ari.example") == registrar


def test_domain_carries_the_port_unless_it_is_5060():
    assert Registrar("127.0.0.1", 5560, True).domain == "127.0.0.1:5560"
    assert Registrar("192.168.1.20", 5060, True).domain == "192.168.1.20"
    assert Registrar("192.168.1.20", 5060, True).uri == "sip:192.168.1.20:5060"
    assert Registrar("fd00::2", 5160, True).uri == "sip:[fd00::2]:5160"


def test_split_host_port():
    assert split_host_port("[::1]:5070") == ("::1", 5070)
    assert split_host_port("10.0.0.1") == ("10.0.0.1", 5060)


def test_passwords_are_long_typeable_and_new_each_time():
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 20 and p.isalnum() and p.isascii() for p in passwords)


def test_the_account_is_a_receive_only_endpoint_several_devices_may_register():
    objects = dict(account_objects("12025550143", "pw", Registrar("127.0.0.1", 5560, True)))
    assert list(dict(account_objects("1", "pw", Registrar("h", 5060, False)))) == [
        "auth", "aor", "endpoint"]  # an endpoint refers to the two made before it
    assert objects["auth"] == {"auth_type": "userpass", "username": "12025550143",
                               "password": "pw"}
    assert int(objects["aor"]["max_contacts"]) == MAX_CONTACTS > 1
    assert objects["aor"]["remove_existing"] == "yes"
    endpoint = objects["endpoint"]
    assert (endpoint["context"], endpoint["allow"], endpoint["dtmf_mode"]) == (
        "from-phone", "ulaw,alaw", "rfc4733")
    assert (endpoint["direct_media"], endpoint["rtp_symmetric"], endpoint["force_rport"]) == (
        "no", "yes", "yes")
    assert (endpoint["auth"], endpoint["aors"]) == ("12025550143", "12025550143")
    assert (endpoint["media_address"], endpoint["bind_rtp_to_media_address"]) == (
        "127.0.0.1", "yes")


def test_rtp_is_bound_only_where_the_transport_binds_one_address():
    endpoint = dict(account_objects("1", "pw", Registrar("203.0.113.9", 5060, False)))["endpoint"]
    assert "media_address" not in endpoint


def test_a_phone_with_no_device_registered_reports_like_an_unreachable_phone():
    # What the dialplan's Hangup(20) becomes (asterisk/config/extensions.conf).
    record = CallRecord("cvtest.x", placed_at=1.0, ended_at=1.05, cause=20,
                        cause_txt="Subscriber absent", hung_up_by="far end")
    outcome = CallOutcome.from_call(record, ring_timeout=30)
    assert (outcome.answered, outcome.failure) == (False, "")
    assert callback_reason(outcome) == "3"
    assert call_status(outcome) == (20, "CANCEL")
