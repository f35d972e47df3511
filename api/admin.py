"""Admin operations behind the CLI: accounts and the do-not-call list.

Each returns what the CLI prints. Keys and tokens are shown once, at creation;
the store keeps only their hashes.
"""
from __future__ import annotations

import re

from engine.store import Account, Store

E164_DIGITS = re.compile(r"[1-9][0-9]{3,14}")


class AdminError(Exception):
    """A request the operator must correct (unknown account, bad number)."""


def account_view(account: Account) -> dict:
    """The account's public fields (no key or token hashes)."""
    return {"account_id": account.account_id, "name": account.name,
            "credits": account.credits, "disabled": account.disabled}


async def existing_account(store: Store, account_id: str) -> Account:
    account = await store.account(account_id)
    if account is None:
        raise AdminError(f"unknown account {account_id!r}")
    return account


async def create_account(store: Store, name: str, credits: int) -> dict:
    """Create an account; its api_key and token are returned this once only."""
    if not name.strip():
        raise AdminError("the account name must not be empty")
    if credits < 0:
        raise AdminError("credits must not be negative")
    new = await store.create_account(name, credits)
    return {"account_id": new.account_id, "api_key": new.api_key, "token": new.token}


async def credit_account(store: Store, account_id: str, amount: int) -> dict:
    """Add (or, with a negative amount, take back) call credits."""
    await existing_account(store, account_id)
    await store.add_credits(account_id, amount)
    return account_view(await existing_account(store, account_id))


async def set_account_disabled(store: Store, account_id: str, disabled: bool) -> dict:
    """Disable or enable an account's api_key (disabled keys get return code 5)."""
    await existing_account(store, account_id)
    await store.set_disabled(account_id, disabled)
    return account_view(await existing_account(store, account_id))


async def show_account(store: Store, account_id: str) -> dict:
    """The account's name, credits and state."""
    return account_view(await existing_account(store, account_id))


def dnc_number(raw: str) -> str:
    """E.164 digits without the plus; a leading + is accepted and stripped."""
    digits = raw.strip().removeprefix("+")
    if not digits.isascii() or not E164_DIGITS.fullmatch(digits):
        raise AdminError(f"not an E.164 number (country code and number, 4-15 digits): {raw!r}")
    return digits
