"""The accept step: one Lua script that decides and records a request.

Each API maps the names it answers (ACCEPTED, FLOOD, ...) to its own codes;
engine/verifications.py runs it (`Verifications.accept`, `accept_by_api_key`,
`accept_by_credential`).
"""
from __future__ import annotations

from typing import NamedTuple

from engine.backpressure import QUEUE_ROOM_LUA
from engine.client_limits import TAKE_TOKEN_LUA

# What the accept step answers; each API maps these names to its own codes.
ACCEPTED, UNKNOWN_KEY, DISABLED, DO_NOT_CALL, FLOOD, NO_CREDIT = (
    "accepted", "unknown_key", "disabled", "do_not_call", "flood", "no_credit")
CALLER_ID_NOT_LISTED, PREFIX_BLOCKED, SPEND_LIMIT = (
    "caller_id_not_listed", "prefix_blocked", "spend_limit")
PREFIX_ALARM = "prefix_alarm"  # (the request that blocked the prefix; answered as PREFIX_BLOCKED)
RATE_LIMITED, DAILY_CAP = "rate_limited", "daily_cap"
BUSY = "busy"  # the engines cannot start it in time (engine/backpressure.py)


class Acceptance(NamedTuple):
    """The accept step's answer: a name above, the new verification's id ("" unless
    accepted), the account's id ("" for an unknown key), the seconds to wait
    before trying again (busy only) and the milliseconds until the client's
    next token (rate_limited only)."""

    result: str
    verification_id: str
    account_id: str
    retry_after: int = 0
    wait_ms: int = 0


# A /v1 verification (ARGV[24], the lists' prefix, not "": engine/keys.py
# v1_list_key) is listed in the account's list and the account's list for
# the number, by its created_at; entries older than the retention go as new
# ones come, and the number's list goes into the number's index (so a purge
# removes it). It takes the URL of the account's webhook for ARGV[26]
# (ARGV[25]: the webhooks' key prefix) and, for a call from a number that
# carries the code (caller_number), the account's ring window, as the
# password call does; so the account is looked up once.
V1_LUA = """
local function accept_v1(list_prefix, account_id, e164, id, verification, retention, index,
                         webhook_prefix, event, account)
  local url = redis.call('HGET', webhook_prefix .. account_id .. ':' .. event, 'url')
  if url then redis.call('HSET', verification, 'webhook_url', url) end
  local ring = redis.call('HGET', account, 'ring_seconds')
  if ring and redis.call('HEXISTS', verification, 'caller_number') == 1 then
    redis.call('HSET', verification, 'ring_seconds', ring)
  end
  local score = tonumber(redis.call('HGET', verification, 'created_at'))
  local lists = {list_prefix .. account_id, list_prefix .. account_id .. ':' .. e164}
  for _, list in ipairs(lists) do
    redis.call('ZADD', list, score, id)
    redis.call('ZREMRANGEBYSCORE', list, '-inf', score - retention)
    redis.call('EXPIRE', list, retention)
  end
  redis.call('SADD', index, lists[2])
end
"""

# One atomic step per request, so parallel requests can neither overspend
# (credits or the hourly spend limit) nor call a number twice. First the
# client address's token bucket (KEYS[8]; engine/client_limits.py):
# rate_limited, with the milliseconds to wait. With `lookup` the first key is
# the api-key index: the script also answers unknown_key, rate_limited (the
# account's bucket, ARGV[15] + account id), disabled and caller_id_not_listed
# (a `caller_id` must be in the account's set), so the whole reverse-verify
# decision is one round trip. Then the caller's own `refusal` (decided in
# Python), prefix_blocked (blocked before, or now: `alarm` calls were
# accepted to the prefix this clock minute), do_not_call, flood (this account
# called this number less than flood_ms ago), daily_cap (the number had
# ARGV[19] accepted calls this UTC day, any account; 0: no cap), no_credit,
# spend_limit (units charged this clock hour), busy (a backlog the engines
# cannot start within the window: engine/backpressure.py; with the seconds
# to wait), accepted; `taken` asks for another id. A verification that names
# no locale gets the account's default (`callverify account locale`), so the
# seed APIs' calls speak it too. Clocks are Redis's. An
# accepted verification expires `retention` seconds later whatever becomes
# of it (the verdict renews that); its key, its flood mark and its daily
# count go into the number's index, which `callverify purge` reads
# (engine/retention.py). (It reads the account hash, caller-ID set, flood mark
# and account bucket by name: one Redis or Sentinel, not Cluster.)
ACCEPT_LUA = TAKE_TOKEN_LUA + QUEUE_ROOM_LUA + V1_LUA + """
local price, flood_ms, id, e164 = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local refusal, lookup, account_id, account_prefix = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local caller_id, caller_ids_prefix, prefix, alarm = ARGV[9], ARGV[10], ARGV[11], tonumber(ARGV[12])
local flood_prefix, daily_cap = ARGV[18], tonumber(ARGV[19])
local group, window, floor, retention = ARGV[20], tonumber(ARGV[21]), tonumber(ARGV[22]), ARGV[23]
local list_prefix, webhook_prefix, event = ARGV[24], ARGV[25], ARGV[26]
local account, daily, verification, calls, dnc = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prefix_calls, blocked, engines, number_index = KEYS[6], KEYS[7], KEYS[9], KEYS[10]
local clock = redis.call('TIME')
local now = tonumber(clock[1])
local wait = take_token(KEYS[8], tonumber(ARGV[13]), tonumber(ARGV[14]), now_ms(clock))
if wait > 0 then return {'rate_limited', '', wait} end
if lookup == '1' then
  account_id = redis.call('GET', KEYS[1])
  if not account_id then return {'unknown_key', ''} end
  wait = take_token(ARGV[15] .. account_id, tonumber(ARGV[16]), tonumber(ARGV[17]), now_ms(clock))
  if wait > 0 then return {'rate_limited', account_id, wait} end
  account = account_prefix .. account_id
  if redis.call('HGET', account, 'disabled') == '1' then return {'disabled', account_id} end
end
if caller_id ~= '' and redis.call('SISMEMBER', caller_ids_prefix .. account_id, caller_id) == 0 then
  return {'caller_id_not_listed', account_id}
end
if refusal ~= '' then return {refusal, account_id} end
if redis.call('HEXISTS', blocked, prefix) == 1 then return {'prefix_blocked', account_id} end
if alarm > 0 and tonumber(redis.call('GET', prefix_calls) or '0') >= alarm then
  redis.call('HSET', blocked, prefix, now)
  return {'prefix_alarm', account_id}
end
if redis.call('SISMEMBER', dnc, e164) == 1 then return {'do_not_call', account_id} end
if redis.call('EXISTS', verification) == 1 then return {'taken', account_id} end
local flood = flood_prefix .. account_id .. ':' .. e164
if redis.call('EXISTS', flood) == 1 then return {'flood', account_id} end
local calls_today = daily_cap > 0 and tonumber(redis.call('GET', daily) or '0') or 0
if daily_cap > 0 and calls_today >= daily_cap then return {'daily_cap', account_id} end
local held = redis.call('HMGET', account, 'credits', 'spend_limit', 'spend_hour', 'spent', 'locale')
if tonumber(held[1] or '0') < price then return {'no_credit', account_id} end
local hour, limit = math.floor(now / 3600), tonumber(held[2])
local spent = tonumber(held[3]) == hour and tonumber(held[4]) or 0
if limit and spent + price > limit then return {'spend_limit', account_id} end
local bound, busy_wait = queue_room(calls, group, engines, window, floor, now)
if not bound then return {'busy', account_id, busy_wait} end
redis.call('HINCRBY', account, 'credits', -price)
redis.call('HSET', account, 'spend_hour', hour, 'spent', spent + price)
if alarm > 0 and redis.call('INCR', prefix_calls) == 1 then
  redis.call('EXPIREAT', prefix_calls, (math.floor(now / 60) + 1) * 60)
end
redis.call('SET', flood, id, 'PX', flood_ms)
if daily_cap > 0 and calls_today == 0 then
  redis.call('SET', daily, 1, 'EX', (math.floor(now / 86400) + 1) * 86400 - now)
elseif daily_cap > 0 then
  redis.call('INCR', daily)
end
redis.call('HSET', verification, 'account_id', account_id, 'id', id, 'e164', e164,
           'status', 'queued', unpack(ARGV, 27))
if held[5] and redis.call('HEXISTS', verification, 'locale') == 0 then
  redis.call('HSET', verification, 'locale', held[5])
end
redis.call('EXPIRE', verification, retention)
redis.call('SADD', number_index, verification, flood)
if daily_cap > 0 then redis.call('SADD', number_index, daily) end
if list_prefix ~= '' then
  accept_v1(list_prefix, account_id, e164, id, verification, tonumber(retention), number_index,
            webhook_prefix, event, account)
end
redis.call('EXPIRE', number_index, retention)
redis.call('XADD', calls, 'MAXLEN', bound, '*', 'verification_id', id)
return {'accepted', account_id}
"""
