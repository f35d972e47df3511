"""How many calls the engine runs at once: as many as Asterisk still sets up in time.

Past what the machine can carry, Asterisk takes longer to set each call up
(originate sent -> the phone ringing, answering or failing) and its events
come late: a call running then has its keypad timers running against events
that have not arrived yet, and keys sent in time are judged late. So the
engine starts a call only while fewer than `limit` calls are in progress,
and adapts `limit` to how long set-ups take, as TCP adapts its congestion
window:

- until a set-up is late (over TARGET_SECONDS), each set-up in time grows
  the limit by one (slow start: it keeps ahead of the calls in progress, so
  a load the machine carries is never held back); the first late one cuts
  it to DECREASE times the calls in progress;
- then the set-ups of each INTERVAL seconds are judged together: when more
  than LATE_SHARE of them were late, or more than SLOW_SHARE took over
  SLOW_SECONDS (Asterisk lagging before set-ups are late), the limit is cut
  to DECREASE times the calls in progress; when none was late, it grows by
  GROWTH (and one more);
- the limit grows only while it is used: in slow start while at least half
  the window is taken, afterwards when the window was full during the
  interval. A limit never tried under load would let the next burst start
  more calls at once than were ever carried;
- the limit stays between FLOOR and the engine's own cap (max_concurrent_calls).

A call holds its place from its start to its end. Jobs not started wait in
the queue (the stream), where the backlog is visible to the accept step and
old ones end as expired instead of being dialled late.
"""
from __future__ import annotations

import asyncio
import time

TARGET_SECONDS = 1.0  # a set-up slower than this is late (the bench's establishment threshold)
SLOW_SECONDS = 0.5
DECREASE = 0.85
GROWTH = 0.02
LATE_SHARE = 0.1
SLOW_SHARE = 0.5
INTERVAL = 1.0  # seconds of set-ups judged together
FLOOR = 4
START = 32


class Admission:
    """Counts the calls in progress and lets new ones start while under `limit`."""

    def __init__(self, ceiling: int, *, start: int = START, floor: int = FLOOR,
                 target: float = TARGET_SECONDS, clock=time.monotonic) -> None:
        self.ceiling = max(ceiling, 1)
        self.floor = min(floor, self.ceiling)
        self.limit = float(min(max(start, self.floor), self.ceiling))
        self.target = target
        self.running = 0
        self.slow_start = True
        self._clock = clock
        self._interval_start = clock()
        self._set_ups = self._late = self._slow = 0
        self._full = False  # the window was full at some point of this interval
        self._room = asyncio.Event()
        self._room.set()

    @property
    def free(self) -> int:
        """How many more calls may start now."""
        return max(0, int(self.limit) - self.running)

    async def wait_for_room(self, timeout: float) -> bool:
        """True once a call may start; False if none may after `timeout` seconds."""
        if self.free > 0:
            return True
        self._full = True
        self._room.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._room.wait()
        except TimeoutError:
            pass
        return self.free > 0

    def start(self) -> Place:
        """A call starts: it holds a place until `Place.release`."""
        self.running += 1
        if self.running >= int(self.limit):
            self._full = True
            self._room.clear()
        return Place(self)

    def _release(self) -> None:
        self.running = max(0, self.running - 1)
        if self.running < int(self.limit):
            self._room.set()

    def _took(self, seconds: float) -> None:
        late = seconds > self.target
        self._set_ups += 1
        self._late += late
        self._slow += seconds > SLOW_SECONDS
        now = self._clock()
        judged = now - self._interval_start >= INTERVAL
        n = self._set_ups
        if self.slow_start and late:
            self._cut()
        elif self.slow_start:
            if 2 * self.running >= self.limit:
                self.limit = min(float(self.ceiling), self.limit + 1)
        elif judged:
            if self._late > LATE_SHARE * n or self._slow > SLOW_SHARE * n:
                self._cut()
            elif not self._late and self._full:
                self.limit = min(float(self.ceiling), self.limit * (1 + GROWTH) + 1)
        if judged:
            self._interval_start, self._set_ups, self._late, self._slow = now, 0, 0, 0
            self._full = self.running >= int(self.limit)
        if self.running < int(self.limit):
            self._room.set()

    def _cut(self) -> None:
        self.slow_start = False
        self.limit = max(float(self.floor), min(self.limit, self.running * DECREASE))


class Place:
    """One call's place in the admission window: its set-up time is told
    once (`set_up`), and the place is given back once (`release`)."""

    def __init__(self, admission: Admission) -> None:
        self._admission = admission
        self._timed = False
        self._held = True

    def set_up(self, seconds: float) -> None:
        """The set-up ended (ringing, answered or failed) after `seconds`: it adapts the limit."""
        if not self._timed:
            self._timed = True
            self._admission._took(seconds)

    def release(self) -> None:
        """The call is over (or the job needed none): the place goes back."""
        if self._held:
            self._held = False
            self._admission._release()
