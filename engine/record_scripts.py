"""The scripts that take, update and close a verification's record (run by
engine/verifications.py): each one atomic step, keys passed as KEYS."""
from __future__ import annotations

# The verdict is written once, with its deliveries (each names its own key; a
# delivery this process sends itself comes leased: due at the lease's end, no
# wake-up). With a job id the call queue's job is acknowledged and removed in
# the same step, whether or not the verdict was already there. A record that
# is gone (purged) gets no verdict and sends nothing. With `refund_from` (the
# account key prefix, ARGV[6]) it is the verdict of a job not dialled: given
# only while the verification is still queued (else the engine that took it
# since gives its call's verdict), and the price is refunded (and taken off
# the clock hour's spend when charged in it): once, with the verdict. The
# fields from ARGV[7] on are dropped (the code a password call spoke: the
# flows read it only before their verdict). The record and its deliveries are
# kept `ttl` seconds, and the deliveries' keys join the number's index
# (KEYS[5], if any). A /v1 verification whose end was set before its verdict
# (`final`: canceled, or decided by a check) keeps that end and gets no
# deliveries from the verdict: its event went with the end.
VERDICT_LUA = """
local ttl, fields, deliveries, job_id, group = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local refund_from = ARGV[6]
local verification, due, wake, calls, number_index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if job_id ~= '' then
  redis.call('XACK', calls, group, job_id)
  redis.call('XDEL', calls, job_id)
end
local status = redis.call('HGET', verification, 'status')
if status == 'done' or redis.call('EXISTS', verification) == 0 then return 0 end
if refund_from ~= '' then
  if status ~= 'queued' then return 0 end
  local held = redis.call('HMGET', verification, 'account_id', 'price', 'created_at')
  local price, account = tonumber(held[2] or '') or 0, refund_from .. (held[1] or '')
  if held[1] and price > 0 and redis.call('EXISTS', account) == 1 then
    redis.call('HINCRBY', account, 'credits', price)
    local spend = redis.call('HMGET', account, 'spend_hour', 'spent')
    if tonumber(spend[1]) == math.floor((tonumber(held[3] or '') or 0) / 3600) then
      redis.call('HSET', account, 'spent', math.max((tonumber(spend[2]) or 0) - price, 0))
    end
    redis.call('HSET', verification, 'refunded', price)
  end
end
local function hset_all(key, pairs_json)
  local flat = cjson.decode(pairs_json)
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
if (redis.call('HGET', verification, 'final') or '') ~= '' then deliveries = '[]' end
hset_all(verification, fields)
if #ARGV > 6 then redis.call('HDEL', verification, unpack(ARGV, 7)) end
redis.call('EXPIRE', verification, ttl)
for _, d in ipairs(cjson.decode(deliveries)) do
  redis.call('HSET', d.key, unpack(d.pairs))
  redis.call('EXPIRE', d.key, ttl)
  redis.call('ZADD', due, d.due, d.id)
  if d.wake then redis.call('RPUSH', wake, d.id) end
  if number_index then redis.call('SADD', number_index, d.key) end
end
if number_index then redis.call('EXPIRE', number_index, ttl) end
redis.call('LTRIM', wake, -1000, -1)
return 1
"""

# The engine takes a queued verification, in one round trip: its fields as
# they were, and why it is not to be dialled: expired (accepted before
# ARGV[2]), account_disabled (ARGV[3] is the account key prefix); or '', and
# then (when it was queued) it is marked calling on the channel.
TAKE_LUA = """
local fields = redis.call('HGETALL', KEYS[1])
local found = {}
for i = 1, #fields, 2 do found[fields[i]] = fields[i + 1] end
if found.status ~= 'queued' then return {'', fields} end
if (tonumber(found.created_at or '') or math.huge) < tonumber(ARGV[2]) then
  return {'expired', fields}
end
if found.account_id and redis.call('HGET', ARGV[3] .. found.account_id, 'disabled') == '1' then
  return {'account_disabled', fields}
end
redis.call('HSET', KEYS[1], 'status', 'calling', 'channel_id', ARGV[1])
return {'', fields}
"""

# Progress and the close of a call update a record that is still there; one
# purged (or expired) meanwhile is not written back. ARGV[1]: an id to
# publish on KEYS[2] ('' for none), then field, value pairs.
UPDATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
if ARGV[1] ~= '' then redis.call('PUBLISH', KEYS[2], ARGV[1]) end
return 1
"""
