"""Redis records: accounts, the do-not-call list, verifications.

Every Redis key name lives in this module (and queue/delivery for theirs), so
HTTP handlers and flows speak only in domain terms.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from engine.delivery import DUE, WAKE
from engine.scripts import lua_script

ACCOUNT_SEQ = "cv:accounts:seq"
FIRST_ACCOUNT_ID = 100000
DNC = "cv:dnc"
CODE_KEY = "cv:secret:code-hmac"
CALLS_STREAM = "cv:calls"
CALLS_GROUP = "engines"
DONE_TTL_SECONDS = 7 * 24 * 3600
# Pub/sub channel: the id of a verification whose call progressed (see report_progress).
PROGRESS_CHANNEL = "cv:progress"


def account_key(account_id: str) -> str:
    return f"cv:account:{account_id}"


def api_key_index(api_key: str) -> str:
    return f"cv:apikey:{digest(api_key)}"


def token_index(token: str) -> str:
    return f"cv:token:{digest(token)}"


def verification_key(verification_id: str) -> str:
    return f"cv:verification:{verification_id}"


def webhook_key(account_id: str, event: str) -> str:
    return f"cv:webhook:{account_id}:{event}"


def flood_key(e164: str) -> str:
    return f"cv:flood:{e164}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    credits: int
    disabled: bool


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    api_key: str
    token: str


# One atomic step per request, so parallel requests can neither overspend nor
# call a number twice. With LOOKUP=1 the first key is the api-key index and the
# script also answers 1 (unknown key), 5 (disabled), the caller's own refusal
# (8/7, decided in Python but ranked after 1/5) and 3 (do-not-call): the whole
# reverse-verify decision is one round trip. Then: 6 flood, 2 credit, 0 queued.
# (It reads the account hash by name: fine for one Redis or Sentinel, not Cluster.)
ACCEPT_LUA = """
local akey = KEYS[1]
local account_id = ARGV[7]
if ARGV[6] == '1' then
  account_id = redis.call('GET', KEYS[1])
  if not account_id then return {1, ''} end
  akey = 'cv:account:' .. account_id
  if redis.call('HGET', akey, 'disabled') == '1' then return {5, account_id} end
  if ARGV[5] ~= '0' then return {tonumber(ARGV[5]), account_id} end
  if redis.call('SISMEMBER', KEYS[5], ARGV[4]) == 1 then return {3, account_id} end
end
if redis.call('EXISTS', KEYS[3]) == 1 then return {-1, account_id} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {6, account_id} end
local credits = tonumber(redis.call('HGET', akey, 'credits') or '0')
local price = tonumber(ARGV[1])
if credits < price then return {2, account_id} end
redis.call('HINCRBY', akey, 'credits', -price)
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], 'account_id', account_id, 'id', ARGV[3], 'e164', ARGV[4],
           'status', 'queued', unpack(ARGV, 8))
redis.call('XADD', KEYS[4], '*', 'verification_id', ARGV[3])
return {0, account_id}
"""


# A verification's verdict is written once, with its deliveries (KEYS[2..3] are
# the delivery queue's due set and wake list); a later finish only completes
# the end-of-call fields. A delivery this process sends itself comes leased
# (its due time is the lease's end) and wakes no one. With a job id (ARGV[5])
# the call queue's job is acknowledged and removed in the same step.
FINISH_LUA = """
if ARGV[5] ~= '' then
  redis.call('XACK', KEYS[4], ARGV[6], ARGV[5])
  redis.call('XDEL', KEYS[4], ARGV[5])
end
local function hset_all(key, fields)
  local flat = {}
  for k, v in pairs(fields) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
if redis.call('HGET', KEYS[1], 'status') == 'done' then
  hset_all(KEYS[1], cjson.decode(ARGV[3]))
  return 0
end
hset_all(KEYS[1], cjson.decode(ARGV[2]))
redis.call('EXPIRE', KEYS[1], ARGV[1])
for _, d in ipairs(cjson.decode(ARGV[4])) do
  hset_all('cv:delivery:' .. d.id, d.fields)
  redis.call('ZADD', KEYS[2], d.due, d.id)
  if d.wake then redis.call('RPUSH', KEYS[3], d.id) end
end
redis.call('LTRIM', KEYS[3], -1000, -1)
return 1
"""
# The engine takes a queued verification: its fields as they were, and (when it
# was queued) it is marked calling on `channel_id`, in one round trip.
TAKE_LUA = """
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] == 'status' then
    if fields[i + 1] == 'queued' then
      redis.call('HSET', KEYS[1], 'status', 'calling', 'channel_id', ARGV[1])
    end
    break
  end
end
return fields
"""


class Store:
    """Domain operations on Redis shared by the API, the engine and the CLI."""

    def __init__(self, redis: Redis, code_key: str = "") -> None:
        self.redis = redis
        self._code_key = code_key.encode() if code_key else b""
        self._accept = lua_script(redis, ACCEPT_LUA)
        self._finish = lua_script(redis, FINISH_LUA)
        self._take = lua_script(redis, TAKE_LUA)

    # -- accounts -------------------------------------------------------
    async def create_account(self, name: str, credits: int) -> NewAccount:
        account_id = str(FIRST_ACCOUNT_ID + await self.redis.incr(ACCOUNT_SEQ))
        api_key = secrets.token_hex(16)
        token = secrets.token_urlsafe(32)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(account_key(account_id), mapping={
                "name": name, "credits": credits, "disabled": 0,
                "api_key_hash": digest(api_key), "token_hash": digest(token),
                "created_at": f"{time.time():.3f}",
            })
            pipe.set(api_key_index(api_key), account_id)
            pipe.set(token_index(token), account_id)
            await pipe.execute()
        return NewAccount(account_id, api_key, token)

    async def account(self, account_id: str) -> Account | None:
        raw = await self.redis.hgetall(account_key(account_id))
        if not raw:
            return None
        return Account(account_id, raw[b"name"].decode(), int(raw[b"credits"]),
                       raw[b"disabled"] == b"1")

    async def account_by_token(self, token: str) -> Account | None:
        account_id = await self.redis.get(token_index(token))
        return await self.account(account_id.decode()) if account_id else None

    async def add_credits(self, account_id: str, amount: int) -> int:
        if not await self.redis.exists(account_key(account_id)):
            raise KeyError(account_id)
        return await self.redis.hincrby(account_key(account_id), "credits", amount)

    async def set_disabled(self, account_id: str, disabled: bool) -> None:
        if not await self.redis.exists(account_key(account_id)):
            raise KeyError(account_id)
        await self.redis.hset(account_key(account_id), "disabled", int(disabled))

    async def set_ring_seconds(self, account_id: str, seconds: float) -> None:
        if not await self.redis.exists(account_key(account_id)):
            raise KeyError(account_id)
        await self.redis.hset(account_key(account_id), "ring_seconds", seconds)

    async def ring_seconds(self, account_id: str) -> float | None:
        raw = await self.redis.hget(account_key(account_id), "ring_seconds")
        return float(raw) if raw else None

    # -- webhooks (per account and event) ---------------------------------
    async def set_webhook(self, account_id: str, event: str, url: str, fields: list[str]) -> None:
        if not await self.redis.exists(account_key(account_id)):
            raise KeyError(account_id)
        await self.redis.hset(webhook_key(account_id, event),
                              mapping={"url": url, "fields": json.dumps(fields)})

    async def webhook(self, account_id: str, event: str) -> dict | None:
        """{"url": ..., "fields": [...]} or None when the account has no subscription."""
        raw = await self.redis.hgetall(webhook_key(account_id, event))
        if not raw:
            return None
        return {"url": raw[b"url"].decode(), "fields": json.loads(raw[b"fields"])}

    async def delete_webhook(self, account_id: str, event: str) -> bool:
        return bool(await self.redis.delete(webhook_key(account_id, event)))

    # -- do not call ----------------------------------------------------
    async def dnc_add(self, e164: str) -> None:
        await self.redis.sadd(DNC, e164)

    async def dnc_remove(self, e164: str) -> None:
        await self.redis.srem(DNC, e164)

    async def dnc_list(self) -> list[str]:
        return sorted(m.decode() for m in await self.redis.smembers(DNC))

    async def dnc_contains(self, e164: str) -> bool:
        return bool(await self.redis.sismember(DNC, e164))

    # -- verifications ----------------------------------------------------
    async def code_hmac(self, verification_id: str, code: str) -> str:
        if not self._code_key:
            await self.redis.set(CODE_KEY, secrets.token_hex(32), nx=True)
            self._code_key = await self.redis.get(CODE_KEY)
        return self._hmac(verification_id, code)

    def _hmac(self, verification_id: str, code: str) -> str:
        return hmac.new(self._code_key, f"{verification_id}:{code}".encode(),
                        hashlib.sha256).hexdigest()

    async def code_matches(self, verification_id: str, code_hmac: str, entered: str) -> bool:
        return hmac.compare_digest(await self.code_hmac(verification_id, entered), code_hmac)

    async def accept(self, account_id: str, e164: str, record: dict, *, price: int,
                     flood_seconds: int) -> tuple[int, str]:
        """Charge, flood-mark, store and queue one verification atomically.

        `record` holds the verification's fields; a `code` in it is replaced by
        its HMAC. Returns (return code, verification id): 0 accepted, 6 flood,
        2 no credit.
        """
        result, verification_id, _ = await self._accept_step(
            account_key(account_id), account_id, e164, record, price=price,
            flood_seconds=flood_seconds, lookup=False, refusal=0)
        return result, verification_id

    async def accept_by_api_key(self, api_key: str, e164: str, record: dict, *, price: int,
                                flood_seconds: int, refusal: int = 0) -> tuple[int, str, str]:
        """The whole reverse-verify decision after validation, in one round trip.

        Returns (return code, verification id, account id): 1 unknown key,
        5 disabled, `refusal` if not 0, 3 do-not-call, 6 flood, 2 no credit, 0.
        """
        return await self._accept_step(api_key_index(api_key), "", e164, record, price=price,
                                       flood_seconds=flood_seconds, lookup=True,
                                       refusal=refusal)

    async def _accept_step(self, first_key: str, account_id: str, e164: str, record: dict, *,
                           price: int, flood_seconds: int, lookup: bool,
                           refusal: int) -> tuple[int, str, str]:
        code = record.get("code")
        # The record's fields follow the script's own arguments as name, value
        # pairs (ARGV[8] on), the code replaced by its HMAC.
        fields = [part for name, value in record.items() if name != "code"
                  for part in (name, str(value))]
        while True:
            verification_id = secrets.token_hex(6)
            # (the script adds account_id, id, e164 and status itself)
            argv = [price, flood_seconds * 1000, verification_id, e164, refusal, int(lookup),
                    account_id, *fields, "created_at", f"{time.time():.3f}"]
            if code is not None:
                code_hmac = (self._hmac(verification_id, code) if self._code_key
                             else await self.code_hmac(verification_id, code))
                argv += ("code_hmac", code_hmac, "code_len", len(code))
            keys = (first_key, flood_key(e164), verification_key(verification_id),
                    CALLS_STREAM, DNC)
            result, found_account = await self._accept(keys=keys, args=argv)
            if result != -1:
                found = found_account.decode() if isinstance(found_account, bytes) else found_account
                return result, verification_id if result == 0 else "", found

    async def finish_verification(self, verification_id: str, fields: dict,
                                  completion: dict, deliveries: list[dict],
                                  job_id: str = "") -> bool:
        """Write the outcome and queue its deliveries once; True if this call did.

        On an already finished verification only `completion` is written. A
        `job_id` (the call queue's message) is acknowledged either way.
        """
        done = await self._finish(keys=[verification_key(verification_id), DUE, WAKE,
                                        CALLS_STREAM],
                                  args=[DONE_TTL_SECONDS, json.dumps(fields),
                                        json.dumps(completion), json.dumps(deliveries),
                                        job_id, CALLS_GROUP])
        return bool(done)

    async def record_refused(self, account_id: str, e164: str, record: dict) -> str:
        """Store a verification refused before any call (e.g. for billing).

        It is created `refused`; the caller finishes it (records.finish), which
        stores its outcome and queues its webhook like any other.
        """
        verification_id = secrets.token_hex(6)
        fields = {**record, "id": verification_id, "account_id": account_id, "e164": e164,
                  "status": "refused", "created_at": f"{time.time():.3f}"}
        await self.redis.hset(verification_key(verification_id),
                              mapping={k: str(v) for k, v in fields.items()})
        return verification_id

    async def verification(self, verification_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(verification_key(verification_id))
        return {k.decode(): v.decode() for k, v in raw.items()}

    async def take_verification(self, verification_id: str, channel_id: str) -> dict[str, str]:
        """A verification's fields as they were; a queued one is now `calling` on `channel_id`."""
        flat = await self._take(keys=[verification_key(verification_id)], args=[channel_id])
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    async def report_progress(self, verification_id: str, stage: str, is_redirect: bool, *,
                              notify: bool) -> None:
        """Store how far the call got; with `notify`, tell the API processes
        waiting for it (one round trip: the record is written first)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(verification_key(verification_id),
                  mapping={"progress": stage, "is_redirect": int(is_redirect)})
        if notify:
            pipe.publish(PROGRESS_CHANNEL, verification_id)
        await pipe.execute()
