"""`callverify phone add|list|remove`: a softphone for a number.

`add` makes the SIP account on the Asterisk the service uses
(engine/softphone_accounts.py, over ARI) and then records the number in Redis
(engine/phones.py), whose change the running engines hear of at once; from
then on a verification to the number rings the phone, never the trunk.
`remove` does the reverse, Redis first, so the number goes to the trunk (or a
test number) again. The password is printed by `add` only.
"""
from __future__ import annotations

import asyncio
import json
import sys
from urllib.parse import urlsplit

from api.admin import AdminError, dnc_number
from api.redis_client import connect_redis
from engine.ari.rest import AriError, AriRest
from engine.settings import Settings
from engine.softphone_accounts import SoftphoneAccounts
from engine.store import Store


class AsteriskUnavailable(Exception):
    """ARI could not be reached, or refused the request (the CLI exits 1)."""


def phone_main(action: str, raw_number: str | None, settings: Settings) -> int:
    """The CLI's `phone` command: prints its JSON; exit 1 when Asterisk cannot
    do it (a bad number raises AdminError, Redis down REDIS_DOWN, as for the
    other admin commands)."""
    try:
        result = asyncio.run(phone_command(action, raw_number, settings))
    except AsteriskUnavailable as exc:
        print(f"callverify: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


async def phone_command(action: str, raw_number: str | None, settings: Settings) -> dict | list:
    """Run one `phone` action; what to print (as JSON)."""
    number = dnc_number(raw_number) if raw_number is not None else ""
    redis = connect_redis(settings.redis_url)
    rest = AriRest(settings.ari_url, settings.ari_user, settings.ari_password, pool_size=2,
                    timeout=5)
    await rest.open()
    store = Store(redis, settings.code_key)
    accounts = SoftphoneAccounts(rest, urlsplit(settings.ari_url).hostname or "127.0.0.1")
    try:
        if action == "add":
            return await add_phone(store, accounts, number)
        if action == "remove":
            return await remove_phone(store, accounts, number)
        return await list_phones(store, accounts)
    except AriError as exc:
        raise AsteriskUnavailable(asterisk_problem(exc, settings)) from None
    finally:
        await rest.close()
        await redis.aclose()


def asterisk_problem(exc: AriError, settings: Settings) -> str:
    if exc.status == 0:
        return f"Asterisk's ARI not reachable at {settings.ari_url} (CALLVERIFY_ARI_URL): {exc}"
    if exc.status == 401:
        return "ARI refused the credentials (CALLVERIFY_ARI_USER, CALLVERIFY_ARI_PASSWORD)"
    return (f"Asterisk refused the softphone account ({exc}); its sorcery.conf must give "
            "res_pjsip's endpoint, auth and aor a writable wizard (asterisk/config/sorcery.conf)")


async def add_phone(store: Store, accounts: SoftphoneAccounts, number: str) -> dict:
    """Make the account, then route the number to it; its fields for the phone."""
    if number in await store.phones.list() or await accounts.exists(number):
        raise AdminError(f"{number} already has a softphone; for a new password, "
                         f"`callverify phone remove {number}` and add it again")
    fields = await accounts.create(number)
    try:
        await store.phones.add(number)
    except BaseException:
        await accounts.delete(number)  # not left on Asterisk unrouted
        raise
    return fields


async def remove_phone(store: Store, accounts: SoftphoneAccounts, number: str) -> dict:
    """Route the number to the trunk again, then delete its account."""
    routed = await store.phones.remove(number)
    if not await accounts.delete(number) and not routed:
        raise AdminError(f"{number} has no softphone (`callverify phone list`)")
    return {"number": number, "removed": True}


async def list_phones(store: Store, accounts: SoftphoneAccounts) -> list[dict]:
    """Each number with a softphone, and whether a device of it is registered
    (null while Asterisk cannot be asked)."""
    listed: list[dict] = []
    asking = True
    for number in await store.phones.list():
        registered: bool | None = None
        if asking:
            try:
                registered = await accounts.registered(number)
            except AriError:
                asking = False
        listed.append({"number": number, "registered": registered})
    return listed
