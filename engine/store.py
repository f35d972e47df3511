"""The Redis records, one aggregate each: accounts, the do-not-call list,
the blocked destination prefixes, verifications, softphones. Key names live in engine.keys."""
from __future__ import annotations

from redis.asyncio import Redis

from engine.accounts import Account, Accounts, NewAccount
from engine.dnc import DoNotCall
from engine.phones import Phones
from engine.prefixes import BlockedPrefixes
from engine.retention import DEFAULT_RETENTION_SECONDS
from engine.verifications import Verifications
from engine.webhook_secrets import WebhookSecrets

__all__ = ["Account", "NewAccount", "Store"]


class Store:
    """The aggregates the API, the engine and the CLI share, on one Redis client."""

    def __init__(self, redis: Redis, code_key: str = "",
                 retention_seconds: int = DEFAULT_RETENTION_SECONDS) -> None:
        """`retention_seconds`: how long verifications and deliveries are kept."""
        self.redis = redis
        self.accounts = Accounts(redis)
        self.dnc = DoNotCall(redis)
        self.prefixes = BlockedPrefixes(redis)
        self.verifications = Verifications(redis, code_key, retention_seconds)
        self.webhook_secrets = WebhookSecrets(redis)
        self.phones = Phones(redis)
