"""The verification record: what is stored, and what is read back."""
from engine.outcome import CallOutcome
from engine.verification import Verification


def test_a_record_round_trips_through_its_hash():
    verification = Verification(
        flow="password_call", id="abc", account_id="100001", e164="421222202004",
        status="calling", created_at=1796293536.5, phone_number="421222202004",
        caller_number="42122221234", spoken_code="0042", is_with_redirect=True,
        ring_seconds=12.5, price=83, money_scale=10000, webhook_fields='["q931_status"]',
        outcome=CallOutcome(answered=True, cause=16, is_redirect=True, placed_at=1.5))
    stored = verification.to_hash()
    assert all(isinstance(v, str) for v in stored.values())
    assert stored["is_with_redirect"] == "1" and stored["spoken_code"] == "0042"
    raw = {k.encode(): v.encode() for k, v in stored.items()}
    assert Verification.from_hash(raw) == verification


def test_fields_at_their_default_are_not_stored_and_read_back_as_defaults():
    stored = Verification(flow="reverse_verify", secret="", callback_url="http://a/b").to_hash()
    assert stored == {"flow": "reverse_verify", "callback_url": "http://a/b"}
    read = Verification.from_hash(stored)
    assert (read.secret, read.code_len, read.is_redirect, read.outcome) == ("", 0, False, None)


def test_fields_of_another_version_are_left_alone():
    read = Verification.from_hash({b"flow": b"cli", b"id": b"x", b"some_later_field": b"1"})
    assert (read.flow, read.id) == ("cli", "x")
