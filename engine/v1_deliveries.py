"""A /v1 event's deliveries, stored by the same atomic step that changes the
record (a check, a cancel, an expiry, the call's progress), as the verdict
stores its callbacks (engine/record_scripts.py VERDICT_LUA).

`DELIVER_LUA` is the Lua function those steps share; `stored_events` builds
its argument from `engine.v1_events.events`.
"""
from __future__ import annotations

import json

from engine.delivery import Deliverer
from engine.delivery_record import new_delivery
from engine.records import stored_form
from engine.v1_events import events
from engine.verification import Verification

# queue(deliveries_json, due, wake, number_index, ttl): each delivery's hash
# (kept ttl seconds, listed in the number's index), its due time, and a
# wake-up for the deliverers unless it came leased to its sender.
DELIVER_LUA = """
local function queue(deliveries, due, wake, number_index, ttl)
  for _, d in ipairs(cjson.decode(deliveries)) do
    redis.call('HSET', d.key, unpack(d.pairs))
    redis.call('EXPIRE', d.key, ttl)
    redis.call('ZADD', due, d.due, d.id)
    if d.wake then redis.call('RPUSH', wake, d.id) end
    redis.call('SADD', number_index, d.key)
  end
  redis.call('EXPIRE', number_index, ttl)
  redis.call('LTRIM', wake, -1000, -1)
end
"""


class EventDeliveries:
    """The deliveries of one event: `stored` goes to the script; `sent` hands
    them to this process's deliverer once the script stored them."""

    def __init__(self, verification: Verification, event_type: str, now: float,
                 max_checks: int, courier: Deliverer | None = None) -> None:
        self._courier = courier if courier is not None and courier.taking else None
        self._new = [new_delivery(n.method, n.url, payload=n.payload, kind=n.kind,
                                  leased=self._courier is not None,
                                  account_id=verification.account_id)
                     for n in events(verification, event_type, now, max_checks)]

    @property
    def stored(self) -> str:
        return json.dumps([stored_form(d) for d in self._new])

    def sent(self) -> None:
        if self._courier is not None and self._new:
            self._courier.hand_over(self._new)
