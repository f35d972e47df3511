"""Reading a number the caller keys in."""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from engine.flows.call import Call


class Entry(enum.Enum):
    COMPLETE = "complete"            # reached the wanted length
    TERMINATED = "terminated"        # ended with the terminator key
    INTER_DIGIT_TIMEOUT = "inter_digit_timeout"
    NO_INPUT = "no_input"            # nothing keyed before the first-digit timeout
    TOTAL_TIMEOUT = "total_timeout"


@dataclass(frozen=True)
class DigitEntry:
    digits: str
    result: Entry
    last_digit_at: float = 0.0


async def collect_digits(call: Call, *, max_digits: int, terminator: str = "#",
                         first_timeout: float = 10.0, inter_timeout: float = 5.0,
                         total_timeout: float = 60.0) -> DigitEntry:
    """Collect up to `max_digits` keys, or fewer ended by `terminator`.

    Digits already heard (e.g. one that interrupted a prompt) count first.
    The terminator is not part of the result and is ignored before the first
    digit. A hang-up raises `CallEnded`.
    """
    digits = ""
    last_digit_at = 0.0
    total_deadline = time.monotonic() + total_timeout
    digit_deadline = time.monotonic() + first_timeout
    while True:
        while call.digits:
            key = call.digits.popleft()
            last_digit_at = time.time()
            digit_deadline = time.monotonic() + inter_timeout
            if key == terminator:
                if not digits:
                    continue  # a stray terminator (e.g. after a full-length entry)
                return DigitEntry(digits, Entry.TERMINATED, last_digit_at)
            digits += key
            if len(digits) >= max_digits:
                return DigitEntry(digits, Entry.COMPLETE, last_digit_at)
        deadline = min(digit_deadline, total_deadline)
        if time.monotonic() >= deadline or await call.next_event(deadline - time.monotonic()) is None:
            if time.monotonic() >= total_deadline:
                result = Entry.TOTAL_TIMEOUT
            else:
                result = Entry.INTER_DIGIT_TIMEOUT if digits else Entry.NO_INPUT
            return DigitEntry(digits, result, last_digit_at)
