"""Where a number is dialled.

- a number a softphone holds (`callverify phone add`): the dialplan context
  PHONES_CONTEXT, which rings every device registered for it (originating
  `PJSIP/<number>` would ring only one of them) and, with none registered,
  ends the call as Q.850 20, "subscriber absent";
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
PHONES_CONTEXT = "callverify-phones"  # asterisk/config/extensions.conf


def dial_endpoint(e164: str, settings: Settings, phones: Container[str] = ()) -> str:
    """The ARI endpoint that reaches `e164` (digits, no plus)."""
    if e164 in phones:
        # /n: the Local channel stays in the path (ours is in Stasis, never bridged).
        return f"Local/{e164}@{PHONES_CONTEXT}/n"
    if settings.test_numbers and e164 in TEST_NUMBERS:
        return f"PJSIP/{e164}@{TEST_NUMBERS_ENDPOINT}"
    return f"PJSIP/{e164}@{settings.trunk_endpoint}"
