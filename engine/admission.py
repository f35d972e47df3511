"""How many calls the engine sets up at once: as many as Asterisk sets up in time.

Past what the machine can carry, Asterisk takes longer to set each call up
(originate sent -> the phone ringing, answering or failing) and its events
come late: a call that waited in that queue has its keypad timers running
against events that have not arrived yet, and keys sent in time are judged
late. So the engine starts a call only while fewer than `limit` calls are
still being set up, and adapts `limit` to how long set-ups take
(additive increase, multiplicative decrease, as TCP's congestion window):

- a set-up that took longer than TARGET_SECONDS shrinks the limit by DECREASE
  (at most once per TARGET_SECONDS, so one slow burst counts once);
- every set-up in time grows it by 1/limit (about one more per full window);
- the limit stays between FLOOR and the engine's own cap (max_concurrent_calls).

Jobs not started wait in the queue (the stream), where the backlog is visible
to the accept step and old ones end as expired instead of being dialled late.
"""
from __future__ import annotations

import asyncio
import time

TARGET_SECONDS = 1.0  # a set-up slower than this is late (the bench's establishment threshold)
DECREASE = 0.7
FLOOR = 4
START = 32


class Admission:
    """Counts the calls being set up and lets new ones start while under `limit`."""

    def __init__(self, ceiling: int, *, start: int = START, floor: int = FLOOR,
                 target: float = TARGET_SECONDS, clock=time.monotonic) -> None:
        self.ceiling = max(ceiling, 1)
        self.floor = min(floor, self.ceiling)
        self.limit = float(min(max(start, self.floor), self.ceiling))
        self.target = target
        self.setting_up = 0
        self._clock = clock
        self._last_decrease = -target
        self._room = asyncio.Event()
        self._room.set()

    @property
    def free(self) -> int:
        """How many more calls may start now."""
        return max(0, int(self.limit) - self.setting_up)

    async def wait_for_room(self, timeout: float) -> bool:
        """True once a call may start; False if none may after `timeout` seconds."""
        if self.free > 0:
            return True
        self._room.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._room.wait()
        except TimeoutError:
            pass
        return self.free > 0

    def start(self) -> SetUp:
        """A call's set-up begins: held until its SetUp is ended or dropped."""
        self.setting_up += 1
        if self.free <= 0:
            self._room.clear()
        return SetUp(self)

    def _release(self) -> None:
        self.setting_up = max(0, self.setting_up - 1)
        if self.free > 0:
            self._room.set()

    def _took(self, seconds: float) -> None:
        now = self._clock()
        if seconds > self.target:
            if now - self._last_decrease >= self.target:
                self._last_decrease = now
                self.limit = max(float(self.floor), self.limit * DECREASE)
        else:
            self.limit = min(float(self.ceiling), self.limit + 1 / self.limit)


class SetUp:
    """One call's place in the admission window; ended or dropped once."""

    def __init__(self, admission: Admission) -> None:
        self._admission: Admission | None = admission

    def ended(self, seconds: float) -> None:
        """The set-up ended (ringing, answered or failed) after `seconds`: it adapts the limit."""
        admission, self._admission = self._admission, None
        if admission is not None:
            admission._took(seconds)
            admission._release()

    def drop(self) -> None:
        """The job needed no call, or it was never placed: no figure, just the place back."""
        admission, self._admission = self._admission, None
        if admission is not None:
            admission._release()
