"""The accept step: one Lua script that decides and records a request.

Each API maps the names it answers (ACCEPTED, FLOOD, ...) to its own codes;
engine/verifications.py runs it (`Verifications.accept`, `accept_by_api_key`).
"""
from __future__ import annotations

from typing import NamedTuple

from engine.backpressure import QUEUE_ROOM_LUA

# What the accept step answers; each API maps these names to its own codes.
ACCEPTED, UNKNOWN_KEY, DISABLED, DO_NOT_CALL, FLOOD, NO_CREDIT = (
    "accepted", "unknown_key", "disabled", "do_not_call", "flood", "no_credit")
CALLER_ID_NOT_LISTED, PREFIX_BLOCKED, SPEND_LIMIT = (
    "caller_id_not_listed", "prefix_blocked", "spend_limit")
PREFIX_ALARM = "prefix_alarm"  # (the request that blocked the prefix; answered as PREFIX_BLOCKED)
BUSY = "busy"  # the engines cannot start it in time (engine/backpressure.py)


class Acceptance(NamedTuple):
    """The accept step's answer: a name above, the new verification's id ("" unless
    accepted), the account's id ("" for an unknown key), and the seconds to
    wait before trying again (busy only)."""

    result: str
    verification_id: str
    account_id: str
    retry_after: int = 0


# One atomic step per request, so parallel requests can neither overspend
# (credits or the hourly spend limit) nor call a number twice. With `lookup`
# the first key is the api-key index: the script also answers unknown_key,
# disabled and caller_id_not_listed (a `caller_id` must be in the account's
# set), so the whole reverse-verify decision is one round trip. Then the
# caller's own `refusal` (decided in Python), prefix_blocked (blocked before,
# or now: `alarm` calls were accepted to the prefix this clock minute),
# do_not_call, flood, no_credit, spend_limit (units charged this clock hour,
# by Redis's clock), busy (a backlog the engines cannot start within the
# window: engine/backpressure.py; no charge), accepted; `taken` asks for
# another id. (It reads the account hash and caller-ID set by name: one Redis
# or Sentinel, not Cluster.) An accepted verification expires `retention`
# seconds later whatever becomes of it (the verdict renews that), and its key
# and its flood mark's go into the number's index, which `callverify purge`
# reads (engine/retention.py).
ACCEPT_LUA = QUEUE_ROOM_LUA + """
local price, flood_ms, id, e164 = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local refusal, lookup, account_id, account_prefix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local caller_id, caller_ids_prefix, prefix, alarm = ARGV[9], ARGV[10], ARGV[11], tonumber(ARGV[12])
local group, window, floor = ARGV[13], tonumber(ARGV[14]), tonumber(ARGV[15])
local account, flood, verification, calls, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix_calls, blocked, engines, number_index = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local retention = ARGV[16]
if lookup == '1' then
  account_id = redis.call('GET', KEYS[1])
  if not account_id then return {'unknown_key', ''} end
  account = account_prefix .. account_id
  if redis.call('HGET', account, 'disabled') == '1' then return {'disabled', account_id} end
end
if caller_id ~= '' and redis.call('SISMEMBER', caller_ids_prefix .. account_id, caller_id) == 0 then
  return {'caller_id_not_listed', account_id}
end
if refusal ~= '' then return {refusal, account_id} end
local now = tonumber(redis.call('TIME')[1])
if redis.call('HEXISTS', blocked, prefix) == 1 then return {'prefix_blocked', account_id} end
if alarm > 0 and tonumber(redis.call('GET', prefix_calls) or '0') >= alarm then
  redis.call('HSET', blocked, prefix, now)
  return {'prefix_alarm', account_id}
end
if redis.call('SISMEMBER', dnc, e164) == 1 then return {'do_not_call', account_id} end
if redis.call('EXISTS', verification) == 1 then return {'taken', account_id} end
if redis.call('EXISTS', flood) == 1 then return {'flood', account_id} end
local held = redis.call('HMGET', account, 'credits', 'spend_limit', 'spend_hour', 'spent')
if tonumber(held[1] or '0') < price then return {'no_credit', account_id} end
local hour, limit = math.floor(now / 3600), tonumber(held[2])
local spent = tonumber(held[3]) == hour and tonumber(held[4]) or 0
if limit and spent + price > limit then return {'spend_limit', account_id} end
local bound, wait = queue_room(calls, group, engines, window, floor, now)
if not bound then return {'busy', account_id, wait} end
redis.call('HINCRBY', account, 'credits', -price)
redis.call('HSET', account, 'spend_hour', hour, 'spent', spent + price)
if alarm > 0 and redis.call('INCR', prefix_calls) == 1 then
  redis.call('EXPIREAT', prefix_calls, (math.floor(now / 60) + 1) * 60)
end
redis.call('SET', flood, id, 'PX', flood_ms)
redis.call('HSET', verification, 'account_id', account_id, 'id', id, 'e164', e164,
           'status', 'queued', unpack(ARGV, 17))
redis.call('EXPIRE', verification, retention)
redis.call('SADD', number_index, verification, flood)
redis.call('EXPIRE', number_index, retention)
redis.call('XADD', calls, 'MAXLEN', bound, '*', 'verification_id', id)
return {'accepted', account_id}
"""
