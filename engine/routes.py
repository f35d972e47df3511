"""Where a number is dialled.

- a number a softphone holds (`callverify phone add`): that phone's own PJSIP
  endpoint, which rings every registered contact of it;
- a test number of the sandbox (202 555 0100-0108, when `test_numbers` is on):
  the `testnumbers` endpoint, a real SIP leg that comes back into the same
  Asterisk, where its dialplan plays the number's part;
- any other number: the trunk.
"""
from __future__ import annotations

from collections.abc import Container

from engine.settings import Settings

TEST_NUMBERS = frozenset(f"1202555010{last}" for last in range(9))
TEST_NUMBERS_ENDPOINT = "testnumbers"


def dial_endpoint(e164: str, settings: Settings, phones: Container[str] = ()) -> str:
    """The ARI endpoint that reaches `e164` (digits, no plus)."""
    if e164 in phones:
        return f"PJSIP/{e164}"
    if settings.test_numbers and e164 in TEST_NUMBERS:
        return f"PJSIP/{e164}@{TEST_NUMBERS_ENDPOINT}"
    return f"PJSIP/{e164}@{settings.trunk_endpoint}"
