"""Every Redis key name callverify uses, in one place.

Scripts get their keys as KEYS (and, where a script derives a key from a
value it reads, the prefix as an argument), never from names of their own.

What expires (engine/retention.py, docs/operations.md "Retention and
purging"): a verification, its deliveries and the number's index
CALLVERIFY_RETENTION_DAYS after they are written; the dead list's entries as
long after they were given up; flood marks and per-prefix counters with
their window. Kept until an operator changes them, by design: accounts and
their key and token indexes, caller-ID lists, webhooks and signing secrets,
the do-not-call list, blocked prefixes, the softphones' numbers and the
code's HMAC key. The call
queue holds verification ids only; the wake-up list is trimmed.
"""
from __future__ import annotations

import hashlib

# Accounts
ACCOUNT_SEQ = "cv:accounts:seq"
ACCOUNT_PREFIX = "cv:account:"
# Verifications and the call queue (a stream read by the engines' group)
CODE_KEY = "cv:secret:code-hmac"
CALLS_STREAM = "cv:calls"
CALLS_GROUP = "engines"
# What each live engine can start (a hash: consumer name -> "until rate free",
# engine/engine_capacity.py), read by the accept step's backpressure check.
ENGINE_CAPACITY = "cv:engines:capacity"
# Each live engine's health (a hash: consumer name -> "until ari trunk calls",
# engine/engine_health.py), read by /readyz and /metrics.
ENGINE_HEALTH = "cv:engines:health"
# Pub/sub channel: the id of a verification whose call progressed.
PROGRESS_CHANNEL = "cv:progress"
# /v1 verifications: the pub/sub channel a cancel names a verification on
# (the engine whose call it is hangs up), and the check windows still open on
# delivered codes (a sorted set: id by expires_at), swept for expiry.
CANCEL_CHANNEL = "cv:v1:cancel"
CHECK_WINDOWS = "cv:v1:check-windows"
# The do-not-call set
DNC = "cv:dnc"
# The softphones' numbers (a set; `callverify phone add`), and the pub/sub
# channel each change is announced on, so engines route a new phone at once.
PHONES = "cv:phones"
PHONES_CHANNEL = "cv:phones:changed"
# Deliveries (callbacks and webhooks): due times, wake-ups, the given-up ones
DUE = "cv:deliveries:due"
WAKE = "cv:deliveries:wake"
DEAD = "cv:deliveries:dead"
DELIVERY_PREFIX = "cv:delivery:"
# Each account's allowed caller IDs (a set; the prefix reaches the accept script)
CALLER_IDS_PREFIX = "cv:caller-ids:"
# Destination prefixes (an E.164 number less its last 4 digits): those the
# velocity alarm blocked (a hash: prefix -> Unix time blocked), and the calls
# accepted to each in the current clock minute (a counter that expires with it).
BLOCKED_PREFIXES = "cv:prefixes:blocked"
# Client limits (engine/client_limits.py): token buckets per client address
# and per account's credential (the api key's, the token's), and the 60 s
# flood marks, per account and number (the account id reaches the accept
# script as a value, so the script joins prefix, account and number itself).
ADDRESS_BUCKET_PREFIX = "cv:rate:address:"
API_KEY_BUCKET_PREFIX = "cv:rate:api-key:"
TOKEN_BUCKET_PREFIX = "cv:rate:token:"
FLOOD_PREFIX = "cv:flood:"
# The native API (/v1): each account's verifications by creation time, all
# and per number (sorted sets of ids; the accept step joins prefix, account
# id and number itself), and its Idempotency-Key records.
V1_LIST_PREFIX = "cv:v1:list:"
IDEMPOTENCY_PREFIX = "cv:v1:idempotency:"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def account_key(account_id: str) -> str:
    return ACCOUNT_PREFIX + account_id


# The indexes from a credential's hash to its account (the prefixes reach the
# rotation script, which finds the old index from the hash the account keeps).
API_KEY_PREFIX = "cv:apikey:"
TOKEN_PREFIX = "cv:token:"


def api_key_index(api_key: str) -> str:
    return API_KEY_PREFIX + digest(api_key)


def token_index(token: str) -> str:
    return TOKEN_PREFIX + digest(token)


WEBHOOK_PREFIX = "cv:webhook:"  # (reaches the accept script, which joins account and event)


def webhook_key(account_id: str, event: str) -> str:
    return f"{WEBHOOK_PREFIX}{account_id}:{event}"


def webhook_secret_key(account_id: str) -> str:
    """The account's signing secrets (engine/webhook_secrets.py)."""
    return f"cv:webhook-secret:{account_id}"


def verification_key(verification_id: str) -> str:
    return f"cv:verification:{verification_id}"


def number_index(e164: str) -> str:
    """The keys of one number's records (its verifications, their deliveries,
    its flood marks and daily count), so `callverify purge` finds them without a SCAN."""
    return f"cv:number:{e164}"


def flood_key(account_id: str, e164: str) -> str:
    """The mark of `account_id`'s last accepted call to `e164` (flood_seconds)."""
    return f"{FLOOD_PREFIX}{account_id}:{e164}"


def daily_calls_key(e164: str) -> str:
    """Calls accepted to `e164` this UTC day (Redis's clock), any account."""
    return f"cv:daily-calls:{e164}"


def address_bucket_key(address: str) -> str:
    return ADDRESS_BUCKET_PREFIX + address


def delivery_key(delivery_id: str) -> str:
    return DELIVERY_PREFIX + delivery_id


def caller_ids_key(account_id: str) -> str:
    return CALLER_IDS_PREFIX + account_id


def prefix_calls_key(prefix: str) -> str:
    return f"cv:prefix-calls:{prefix}"


def v1_list_key(account_id: str, e164: str = "") -> str:
    """The account's /v1 verifications (ids by creation time); with `e164`,
    only those to that number (listed in the number's index)."""
    return f"{V1_LIST_PREFIX}{account_id}" + (f":{e164}" if e164 else "")


def idempotency_key(account_id: str, key: str) -> str:
    """The account's record of one Idempotency-Key (the key itself is not kept)."""
    return f"{IDEMPOTENCY_PREFIX}{account_id}:{digest(key)}"
