"""Admin operations behind the CLI: accounts (with their hourly spend limit
and caller IDs), webhooks, the do-not-call list, the blocked prefixes and
the purge of a person's records.

Each returns what the CLI prints. Keys and tokens are shown once, at creation
or rotation; the store keeps only their hashes.
"""
from __future__ import annotations

import dataclasses
import math
import re
import time

from engine.accounts import MAX_BALANCE, CreditRefused
from engine.caller_ids import caller_id_problem
from engine.egress import url_refusal
from engine.locales import DEFAULT_LOCALE, locale_problem
from engine.prefixes import PREFIX_DIGITS
from engine.retention import purge_number
from engine.store import Account, Store
from engine.v1_events import EVENT as V1_EVENT
from engine.webhook_fields import PASSWORD_CALL_FIELDS

E164_DIGITS = re.compile(r"[1-9][0-9]{3,14}")
# The events an account's webhook subscribes to, with the body variables it
# may choose; the /v1 `verification` event carries the whole verification
# object (engine/v1_events.py) and takes no --fields.
WEBHOOK_FIELDS: dict[str, tuple[str, ...]] = {"password_call": PASSWORD_CALL_FIELDS,
                                              V1_EVENT: ()}
RING_SECONDS = (5, 120)
MAX_CREDIT = 10**12  # the most one create, credit or debit moves


class AdminError(Exception):
    """A request the operator must correct (unknown account, bad number)."""


def account_view(account: Account) -> dict:
    """The account's public fields (no key or token hashes)."""
    return {"account_id": account.account_id, "name": account.name,
            "credits": account.credits, "disabled": account.disabled,
            "spend_limit": account.spend_limit}


async def existing_account(store: Store, account_id: str) -> Account:
    account = await store.accounts.get(account_id)
    if account is None:
        raise AdminError(f"unknown account {account_id!r}")
    return account


async def create_account(store: Store, name: str, credits: int) -> dict:
    """Create an account; its api_key and token are returned this once only."""
    if not name.strip():
        raise AdminError("the account name must not be empty")
    if not 0 <= credits <= MAX_CREDIT:
        raise AdminError(f"--credits must be a whole number from 0 to {MAX_CREDIT:,}: {credits}")
    new = await store.accounts.create(name, credits)
    return {"account_id": new.account_id, "api_key": new.api_key, "token": new.token}


def credit_amount(amount: int, action: str) -> int:
    if not 0 < amount <= MAX_CREDIT:
        raise AdminError(f"the amount to {action} must be a whole number from 1 to {MAX_CREDIT:,}:"
                         f" {amount}" + (" (to take credits back: callverify account debit)"
                                         if action == "credit" and amount < 0 else ""))
    return amount


async def credit_account(store: Store, account_id: str, amount: int) -> dict:
    """Add call credits (1 to MAX_CREDIT); the balance stays at most MAX_BALANCE."""
    await change_credits(store, account_id, credit_amount(amount, "credit"))
    return account_view(await existing_account(store, account_id))


async def debit_account(store: Store, account_id: str, amount: int) -> dict:
    """Take call credits back (1 to MAX_CREDIT); never below a balance of 0."""
    await change_credits(store, account_id, -credit_amount(amount, "debit"))
    return account_view(await existing_account(store, account_id))


async def change_credits(store: Store, account_id: str, change: int) -> None:
    try:
        await store.accounts.add_credits(account_id, change)
    except KeyError:
        raise AdminError(f"unknown account {account_id!r}") from None
    except CreditRefused as refused:
        if refused.reason == "short":
            raise AdminError(f"account {account_id} holds {refused.balance} credits: cannot take"
                             f" back {-change} (a balance never goes below 0)") from None
        raise AdminError(f"account {account_id} holds {refused.balance} credits: {change} more"
                         f" would pass the most a balance may hold ({MAX_BALANCE:,})") from None


async def rotate_credential(store: Store, account_id: str, which: str) -> dict:
    """A new api_key (`which` "api_key") or token ("token"), returned this once
    only; the old one stops working at once."""
    rotate = store.accounts.rotate_api_key if which == "api_key" else store.accounts.rotate_token
    try:
        return {"account_id": account_id, which: await rotate(account_id)}
    except KeyError:
        raise AdminError(f"unknown account {account_id!r}") from None


async def set_account_disabled(store: Store, account_id: str, disabled: bool) -> dict:
    """Disable or enable an account's api_key (disabled keys get return code 5;
    its calls still queued are not dialled, and refunded)."""
    await existing_account(store, account_id)
    await store.accounts.set_disabled(account_id, disabled)
    return account_view(await existing_account(store, account_id))


async def show_account(store: Store, account_id: str) -> dict:
    """The account's name, credits, state, spend limit and this hour's spend."""
    return {**account_view(await existing_account(store, account_id)),
            "spent_this_hour": await store.accounts.spent_this_hour(account_id)}


def spend_limit_units(raw: str) -> int | None:
    """A whole number of units, at least 1, or `off` (None: no limit)."""
    if raw.strip().lower() == "off":
        return None
    if not raw.strip().isascii() or not raw.strip().isdigit() or int(raw) < 1:
        raise AdminError(f"the spend limit must be a whole number of units >= 1, or `off`: {raw!r}"
                         " (to stop all calls: callverify account disable)")
    return int(raw)


async def set_spend_limit(store: Store, account_id: str, raw: str) -> dict:
    """Charge the account at most this many units a clock hour; `off` removes the limit."""
    units = spend_limit_units(raw)
    await existing_account(store, account_id)
    await store.accounts.set_spend_limit(account_id, units)
    return await show_account(store, account_id)


def caller_id_number(raw: str, default: str) -> str:
    """A caller ID the rules allow (engine/caller_ids.py); a leading + is stripped."""
    digits = raw.strip().removeprefix("+")
    if digits == default:
        raise AdminError(f"{digits} is the default caller ID (CALLVERIFY_DEFAULT_CALLER_ID):"
                         " always allowed, never listed")
    problem = caller_id_problem(digits)
    if problem is not None:
        raise AdminError(f"caller ID {raw!r} {problem}")
    return digits


async def caller_id_command(store: Store, action: str, account_id: str, raw: str | None,
                            default: str) -> dict:
    """Add a caller ID to the account's list, remove one, or list them."""
    await existing_account(store, account_id)
    if action == "add":
        await store.accounts.add_caller_id(account_id, caller_id_number(raw or "", default))
    elif action == "remove":
        await store.accounts.remove_caller_id(account_id, (raw or "").strip().removeprefix("+"))
    return {"account_id": account_id, "caller_ids": await store.accounts.caller_ids(account_id)}


async def blocked_prefixes(store: Store) -> str:
    """One line per blocked prefix: the prefix and when it was blocked (UTC)."""
    blocked = await store.prefixes.list()
    return "\n".join(f"{prefix} blocked {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(at))}"
                     for prefix, at in blocked.items())


async def unblock_prefix(store: Store, raw: str) -> str:
    """Let calls to a prefix the velocity alarm blocked through again."""
    prefix = raw.strip().removeprefix("+")
    if not prefix.isascii() or not PREFIX_DIGITS.fullmatch(prefix):
        raise AdminError(f"not a prefix (E.164 digits, country code first): {raw!r}")
    if not await store.prefixes.unblock(prefix):
        raise AdminError(f"prefix {prefix} is not blocked (callverify prefix list)")
    return prefix


async def webhook_secret(store: Store, account_id: str, rotate: bool) -> str:
    """The account's webhook signing secret; with `rotate` a new one (the one
    it replaces keeps signing alongside it for 24 h)."""
    await existing_account(store, account_id)
    secrets = store.webhook_secrets
    return await (secrets.rotate(account_id) if rotate else secrets.current(account_id))


def dnc_number(raw: str) -> str:
    """E.164 digits without the plus; a leading + is accepted and stripped."""
    digits = raw.strip().removeprefix("+")
    if not digits.isascii() or not E164_DIGITS.fullmatch(digits):
        raise AdminError(f"not an E.164 number (country code and number, 4-15 digits): {raw!r}")
    return digits


async def purge(store: Store, raw: str) -> dict:
    """Remove a number's records (engine/retention.py); what went, as counts."""
    return dataclasses.asdict(await purge_number(store.redis, dnc_number(raw)))


async def set_ring_window(store: Store, account_id: str, seconds: float) -> dict:
    """Set how long the account's password calls ring before they are cancelled."""
    low, high = RING_SECONDS
    if not (math.isfinite(seconds) and low <= seconds <= high):
        raise AdminError(f"the ring window must be {low}-{high} seconds")
    await existing_account(store, account_id)
    await store.accounts.set_ring_seconds(account_id, int(seconds) if seconds.is_integer() else seconds)
    return {"account_id": account_id, "ring_seconds": await store.accounts.ring_seconds(account_id)}


async def account_locale(store: Store, account_id: str, raw: str | None) -> dict:
    """Set the locale of the account's calls that name none, the seed APIs'
    included (engine/locales.py; `en`: English, as with none); without one, show it."""
    if raw is not None and (problem := locale_problem(raw)):
        raise AdminError(problem)
    await existing_account(store, account_id)
    if raw is not None:
        await store.accounts.set_locale(account_id, "" if raw == DEFAULT_LOCALE else raw)
    return {"account_id": account_id,
            "locale": await store.accounts.locale(account_id) or DEFAULT_LOCALE}


def webhook_url(url: str, egress_allow: tuple[str, ...] = ()) -> str:
    """A URL the egress guard lets a webhook go to (engine/egress.py), given
    the `egress_allow` networks; AdminError naming why not."""
    reason = url_refusal(url, egress_allow)
    if reason is not None:
        raise AdminError(f"webhook URL refused: {reason}: {url!r}")
    return url


def webhook_fields(event: str, names: str | None) -> list[str]:
    """The comma-separated variable names, checked against the event's; default all.
    An event without a choice (verification) takes none."""
    known = WEBHOOK_FIELDS[event]
    if not known:
        if names is not None:
            raise AdminError(f"the {event} webhook carries the whole {event} object: "
                             "--fields does not apply to it")
        return []
    if names is None:
        return list(known)
    chosen = [name.strip() for name in names.split(",")]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise AdminError(f"unknown {event} webhook field(s) {', '.join(map(repr, unknown))};"
                         f" known: {', '.join(known)}")
    return list(dict.fromkeys(chosen))


async def set_webhook(store: Store, account_id: str, event: str, url: str,
                      fields: str | None, egress_allow: tuple[str, ...] = ()) -> dict:
    """Subscribe the account's `event` to `url` with the listed body variables;
    `egress_allow`: the settings' networks a webhook may go to though not
    globally routable."""
    checked_url, names = webhook_url(url, egress_allow), webhook_fields(event, fields)
    await existing_account(store, account_id)
    await store.accounts.set_webhook(account_id, event, checked_url, names)
    return await show_webhook(store, account_id, event)


async def show_webhook(store: Store, account_id: str, event: str) -> dict:
    """The account's subscription to `event`: URL and body variables."""
    await existing_account(store, account_id)
    subscription = await store.accounts.webhook(account_id, event)
    if subscription is None:
        raise AdminError(f"account {account_id!r} has no {event} webhook")
    return {"account_id": account_id, "event": event, **subscription}


async def delete_webhook(store: Store, account_id: str, event: str) -> dict:
    """Remove the account's subscription to `event` (no error if there was none)."""
    await existing_account(store, account_id)
    return {"account_id": account_id, "event": event,
            "deleted": await store.accounts.delete_webhook(account_id, event)}
