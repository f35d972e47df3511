"""Backpressure: the accept step refuses work the engines cannot start in time.

The backlog is the call queue's jobs no engine has taken yet: the stream's
length less the group's pending (taken, not acknowledged) entries. What the
engines can start within the window (CALLVERIFY_MAX_QUEUE_SECONDS, after which
a job is not dialled but expires) is BACKLOG_FLOOR, always, plus, for each
live engine (engine/engine_capacity.py), its free call slots and its measured
rate of starting calls times the window. A request that finds the backlog at
that capacity is refused as busy (nothing charged, nothing stored), with the
seconds to wait: the time the engines need to start the jobs over the bound,
at least 1, at most the window (the window when no engine is live).

The floor is what an engine restarting, or not yet measured, or an API
without any engine (tests, a deployment whose engines are down) still gets
queued: with no live engine, at most BACKLOG_FLOOR jobs wait, and expire.

The stream is bounded: it is added to with MAXLEN at the pending entries
plus that capacity. The check runs first in the same atomic script and
refuses at the bound, so MAXLEN never trims a job (an accepted verification
is never lost from the queue).
"""
from __future__ import annotations

BACKLOG_FLOOR = 100

# queue_room(...) -> the stream's bound (MAXLEN), 0; or nil and the seconds
# to wait. `engines` is ENGINE_CAPACITY; `now` Redis's clock, in seconds.
QUEUE_ROOM_LUA = """
local function queue_room(calls, group, engines, window, floor, now)
  local length, pending = redis.call('XLEN', calls), 0
  if length > 0 then
    local summary = redis.pcall('XPENDING', calls, group)  -- an error before any engine made the group
    if type(summary) == 'table' and not summary.err then pending = tonumber(summary[1]) end
  end
  local rate, capacity = 0, floor
  local listed = redis.call('HGETALL', engines)
  for i = 2, #listed, 2 do
    local live_until, started, free = string.match(listed[i], '^(%S+) (%S+) (%S+)$')
    if live_until and tonumber(live_until) >= now then
      rate = rate + tonumber(started)
      capacity = capacity + tonumber(free)
    end
  end
  capacity = math.floor(capacity + rate * window)
  local backlog = math.max(length - pending, 0)
  if backlog < capacity then return pending + capacity, 0 end
  if rate <= 0 then return nil, math.ceil(window) end
  return nil, math.min(math.ceil(window), math.max(1, math.ceil((backlog - capacity + 1) / rate)))
end
"""
