"""Each account's webhook signing secret, in the Standard Webhooks form.

`whsec_` and the base64 of random bytes. Kept in Redis as it is, because
signing needs the secret itself (unlike an api_key, kept only as a hash).
An account has one current secret; after a rotation the one before stays
valid for a while, so a receiver can switch over without losing deliveries.
An account created before secrets existed gets one the first time anything
asks for it.
"""
from __future__ import annotations

import base64
import secrets
import time
from typing import cast

from redis.asyncio import Redis

from engine.keys import webhook_secret_key
from engine.scripts import registered_script

PREFIX = "whsec_"
# HMAC-SHA256 wants a key as long as its hash (RFC 2104); the standard allows 24-64 bytes.
SECRET_BYTES = 32
PREVIOUS_VALID_SECONDS = 24 * 3600

# The current secret becomes the previous one until ARGV[2], ARGV[1] the
# current; a previous one before it is dropped.
ROTATE_LUA = """
local current = redis.call('HGET', KEYS[1], 'secret')
if current then
  redis.call('HSET', KEYS[1], 'previous', current, 'previous_until', ARGV[2])
end
redis.call('HSET', KEYS[1], 'secret', ARGV[1])
return 1
"""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class WebhookSecrets:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        # An operator's rare command: redis-py's own script, not a connection of its own.
        self._rotate = registered_script(redis, ROTATE_LUA)

    async def current(self, account_id: str) -> str:
        """The secret new signatures use (made now if the account has none yet)."""
        return (await self._stored(account_id))[b"secret"].decode()

    async def valid(self, account_id: str) -> list[str]:
        """The secrets to sign with: the current one, then a previous one still valid."""
        stored = await self._stored(account_id)
        valid = [stored[b"secret"].decode()]
        previous, until = stored.get(b"previous"), stored.get(b"previous_until")
        if previous and until and float(until) > time.time():
            valid.append(previous.decode())
        return valid

    async def rotate(self, account_id: str) -> str:
        """A new current secret; the one it replaces stays valid for PREVIOUS_VALID_SECONDS."""
        secret = new_secret()
        await self._rotate(keys=[webhook_secret_key(account_id)],
                           args=[secret, f"{time.time() + PREVIOUS_VALID_SECONDS:.3f}"])
        return secret

    async def _stored(self, account_id: str) -> dict[bytes, bytes]:
        key = webhook_secret_key(account_id)
        # Replies are bytes: the client does not decode them (api/redis_client.py).
        stored = cast("dict[bytes, bytes]", await self.redis.hgetall(key))
        if b"secret" not in stored:  # HSETNX: two processes asking at once agree on one
            await self.redis.hsetnx(key, "secret", new_secret())
            stored = cast("dict[bytes, bytes]", await self.redis.hgetall(key))
        return stored
