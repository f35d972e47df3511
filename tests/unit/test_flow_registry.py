"""Flows by name: today's names, the names records carried before, and what
each flow tells the customer."""
import pytest

from engine import registry
from engine.flows import password_call, reverse_verify, voice
from engine.outcome import CallOutcome
from engine.verification import Verification


@pytest.mark.parametrize("name, flow", [
    ("reverse_verify", reverse_verify), ("password_call", password_call),
    ("dtmf", reverse_verify), ("cli", password_call), ("voice", voice)])
def test_flows_are_found_by_their_name_and_by_the_name_older_records_carry(name, flow):
    assert registry.flow_named(name) is flow


def test_an_unknown_flow_is_refused_and_tells_nobody():
    with pytest.raises(KeyError):
        registry.flow_named("fax")
    assert registry.notifications_for(Verification(flow="fax"), CallOutcome()) == []


def test_every_flow_has_the_same_parts():
    for name, flow in registry.FLOWS.items():
        # A legacy name is never another flow's name (a flow born named may keep its own).
        assert name == flow.NAME and registry.FLOWS.get(flow.LEGACY_NAME, flow) is flow
        assert callable(flow.run) and callable(flow.farewell) and callable(flow.notifications)


def test_a_record_under_a_legacy_name_gets_its_flows_callback():
    verification = Verification.from_hash({
        b"flow": b"dtmf", b"callback_url": b"https://site.example/cb",
        b"phone_number": b"5551230000", b"country_code": b"1", b"secret": b"s"})
    [note] = registry.notifications_for(verification, CallOutcome(answered=True, matched=True))
    assert (note.method, note.params["match"], note.params["reason"]) == ("GET", "1", "")
