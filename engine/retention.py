"""How long records are kept, and forgetting one person's on request.

Every verification, its deliveries and the index of its number expire
CALLVERIFY_RETENTION_DAYS after they are written (engine/accept_step.py,
engine/verifications.py); deliveries given up stay on the dead list as long
after they were given up (`DeadList.trim`, run by the deliverer).
`purge_number` removes what the number's index lists, at once.
"""
from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from engine.keys import DEAD, DELIVERY_PREFIX, DNC, DUE, number_index, verification_key
from engine.scripts import lua_script

DAY_SECONDS = 24 * 3600
DEFAULT_RETENTION_SECONDS = 7 * DAY_SECONDS
TRIM_BATCH = 500

# Every key the number's index lists, and the index: a delivery (its key
# starts with ARGV[2]) also leaves the due and dead sets; the rest are
# verifications (ARGV[1]) and flood marks. Returns how many of each went.
PURGE_LUA = """
local verification_prefix, delivery_prefix = ARGV[1], ARGV[2]
local verifications, deliveries, marks = 0, 0, 0
local function starts(key, prefix) return string.sub(key, 1, #prefix) == prefix end
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if starts(key, delivery_prefix) then
    local id = string.sub(key, #delivery_prefix + 1)
    local gone = redis.call('DEL', key) + redis.call('ZREM', KEYS[2], id)
      + redis.call('ZREM', KEYS[3], id)
    if gone > 0 then deliveries = deliveries + 1 end
  elseif starts(key, verification_prefix) then
    verifications = verifications + redis.call('DEL', key)
  else
    marks = marks + redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1])
return {verifications, deliveries, marks}
"""

# Up to ARGV[2] dead-list entries given up before ARGV[1], with their hashes
# (ARGV[3] and the id): the hash has expired already unless it was written
# before records had a lifetime. Returns how many went.
TRIM_DEAD_LUA = """
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(old) do redis.call('DEL', ARGV[3] .. id) end
if #old > 0 then redis.call('ZREM', KEYS[1], unpack(old)) end
return #old
"""


def retention_seconds(days: int) -> int:
    return days * DAY_SECONDS


@dataclass(frozen=True)
class Purged:
    """What `purge_number` removed (counts only: never a code or a URL)."""

    number: str
    verifications: int
    deliveries: int
    flood_marks: int
    do_not_call: bool  # the number is on the do-not-call list, which a purge keeps


async def purge_number(redis: Redis, e164: str) -> Purged:
    """Remove every record of the number `e164` (E.164 digits, no plus): its
    verifications of any account, their deliveries pending or given up, and
    its flood marks. Its do-not-call entry stays: that is the person's own
    request. A call in progress ends without a verdict or callback."""
    purge = lua_script(redis, PURGE_LUA)
    counts = await purge(keys=[number_index(e164), DUE, DEAD],
                         args=[verification_key(""), DELIVERY_PREFIX])
    verifications, deliveries, marks = (int(n) for n in counts)
    return Purged(e164, verifications, deliveries, marks,
                  bool(await redis.sismember(DNC, e164)))


class DeadList:
    """The deliveries given up (DEAD), kept `retention_seconds` after that."""

    def __init__(self, redis: Redis, retention_seconds: int) -> None:
        self.retention_seconds = retention_seconds
        self._trim = lua_script(redis, TRIM_DEAD_LUA)

    async def trim(self, now: float) -> int:
        """Remove the entries given up over the retention time before `now`."""
        removed, batch = 0, TRIM_BATCH
        while batch == TRIM_BATCH:
            batch = int(await self._trim(keys=[DEAD], args=[now - self.retention_seconds,
                                                            TRIM_BATCH, DELIVERY_PREFIX]))
            removed += batch
        return removed
