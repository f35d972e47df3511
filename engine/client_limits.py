"""Client limits in Redis: token buckets per client address and per account.

A bucket holds up to `burst` tokens and gains `rate` a second; a request
takes one, or is refused with the time until one is there. Buckets live in
Redis (every API process and worker shares them) and run on Redis's clock
(TIME inside the script), so no two hosts' clocks are compared. A bucket's
key expires once it would be full again: an idle client costs no memory.

The reverse-verify API takes its buckets inside the accept step
(engine/accept_step.py, TAKE_TOKEN_LUA prepended), so an accepted request
still costs one round trip; requests that never reach that step (malformed
ones) and the password call take theirs with LIMIT_LUA here.
"""
from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from engine.scripts import lua_script
from engine.settings_values import rate_and_burst


@dataclass(frozen=True)
class Rate:
    """Tokens a second and the bucket's size; a rate of 0 is no limit."""

    per_second: float = 0.0
    burst: int = 0

    @classmethod
    def of(cls, setting: str) -> Rate:
        """A `RATE[/BURST]` setting (engine/settings_values.rate_and_burst)."""
        return cls(*rate_and_burst(setting))

    @property
    def limited(self) -> bool:
        return self.per_second > 0


NO_LIMIT = Rate()


@dataclass(frozen=True)
class Buckets:
    """The buckets a request takes a token from, in order: its client
    address's (`address_key`, "" for none), then, once the script knows the
    account, the bucket named `account_prefix` + account id."""

    address_key: str = ""
    per_address: Rate = NO_LIMIT
    account_prefix: str = ""
    per_account: Rate = NO_LIMIT

    def args(self) -> list[str | float | int]:
        """The scripts' five arguments for these buckets."""
        return [self.per_address.per_second, self.per_address.burst, self.account_prefix,
                self.per_account.per_second, self.per_account.burst]


NO_BUCKETS = Buckets()

# One token from the bucket at `key`, which gains `rate` tokens a second up
# to `burst`. The bucket is kept as one number, the Redis time (ms) at which
# it will be full again (GCRA's form of a token bucket: no tokens and
# timestamp to parse and format): it holds burst - (full_at - now) * rate
# tokens, and a token can be taken while full_at - now <= (burst - 1) / rate.
# Answers 0 when a token was taken, else the milliseconds until one is there
# (and writes nothing: a refused request does not push the refill back). A
# missing key is a full bucket; the key expires when the bucket is full.
# `rate` 0: no limit, nothing read.
TAKE_TOKEN_LUA = """
local function take_token(key, rate, burst, now_ms)
  if rate <= 0 or key == '' then return 0 end
  local interval = 1000 / rate
  local full_at = math.max(tonumber(redis.call('GET', key) or '') or 0, now_ms)
  local early = full_at - now_ms - (burst - 1) * interval
  if early > 0 then return math.ceil(early) end
  full_at = full_at + interval
  redis.call('SET', key, full_at, 'PX', math.ceil(full_at - now_ms))
  return 0
end
local function now_ms(clock)
  return clock[1] * 1000 + clock[2] / 1000
end
"""

# The address's bucket (KEYS[1]); then, when it gave a token and a credential
# index is named (KEYS[2]: an api key's or a token's), the account it names
# and that account's bucket. Answers {milliseconds to wait (0: go on),
# account id or ''}.
LIMIT_LUA = TAKE_TOKEN_LUA + """
local now = now_ms(redis.call('TIME'))
local wait = take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), now)
if wait > 0 or KEYS[2] == '' then return {wait, ''} end
local account_id = redis.call('GET', KEYS[2])
if not account_id then return {0, ''} end
return {take_token(ARGV[3] .. account_id, tonumber(ARGV[4]), tonumber(ARGV[5]), now), account_id}
"""


class ClientBuckets:
    """Takes tokens for requests that do not go through the accept step."""

    def __init__(self, redis: Redis) -> None:
        self._limit = lua_script(redis, LIMIT_LUA)

    async def take(self, buckets: Buckets, index_key: str = "") -> tuple[int, str]:
        """(milliseconds to wait, 0 when a token was taken from every bucket;
        the account `index_key` names, "" for none or an unknown credential)."""
        wait, account_id = await self._limit(keys=[buckets.address_key, index_key],
                                             args=buckets.args())
        return int(wait), account_id.decode() if isinstance(account_id, bytes) else account_id
