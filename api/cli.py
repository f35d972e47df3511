"""The `callverify` console script: admin commands and service start-up.

Exit status: 0 done, 2 a request to correct (unknown account, bad number or
arguments, a bad setting: each named on stderr), 1 a service could not run
(Redis unreachable, port taken).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from api import admin
from api.redis_client import REDIS_DOWN, connect_redis
from engine import log_output
from engine.settings import Settings, SettingsError, read_settings
from engine.store import Store

log = logging.getLogger(__name__)
SERVICES = {"run": {"api", "engine", "delivery"}, "api": {"api"}, "engine": {"engine"},
            "deliver": {"delivery"}}


def build_parser() -> argparse.ArgumentParser:
    """The command tree: account, webhook, dnc, prefix, phone, purge, settings and the
    service commands."""
    parser = argparse.ArgumentParser(prog="callverify", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    account = commands.add_parser("account", help="manage API accounts")
    actions = account.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an account; prints its api_key once")
    create.add_argument("--name", required=True)
    create.add_argument("--credits", type=int, default=0)
    for name, what in (("credit", "add call credits"),
                       ("debit", "take call credits back (never below 0)")):
        change = actions.add_parser(name, help=f"{what}, 1 to {admin.MAX_CREDIT:,} at a time")
        change.add_argument("account_id")
        change.add_argument("amount", type=int)
    for name, what in (("rotate-key", "api_key"), ("rotate-token", "token")):
        actions.add_parser(name, help=f"make a new {what}, printed once; the old one stops "
                           "working at once").add_argument("account_id")
    for name in ("disable", "enable", "show"):
        actions.add_parser(name, help=f"{name} an account").add_argument("account_id")
    ring = actions.add_parser("ring-window", help="how long password calls ring (5-120 s)")
    ring.add_argument("account_id")
    ring.add_argument("seconds", type=float)
    locale = actions.add_parser("locale", help="the language of the account's calls that name "
                                "none, seed APIs included (en, de, fr, es); shown without one")
    locale.add_argument("account_id")
    locale.add_argument("locale", nargs="?")
    signing = actions.add_parser("webhook-secret",
                                 help="print the secret that signs the account's callbacks")
    signing.add_argument("account_id")
    signing.add_argument("--rotate", action="store_true",
                         help="make a new secret; the old one also signs for 24 h more")
    spend = actions.add_parser("spend-limit", help="most units charged a clock hour (`off`: none)")
    spend.add_argument("account_id")
    spend.add_argument("units", help="a whole number >= 1, or off")
    caller = actions.add_parser("caller-id", help="the caller IDs the account may show")
    caller_actions = caller.add_subparsers(dest="caller_id_action", required=True)
    for name in ("add", "remove"):
        one = caller_actions.add_parser(name, help=f"{name} an E.164 caller ID")
        one.add_argument("account_id")
        one.add_argument("number")
    caller_actions.add_parser("list", help="the account's caller IDs").add_argument("account_id")

    webhook = commands.add_parser("webhook", help="an account's webhook subscriptions")
    hooks = webhook.add_subparsers(dest="action", required=True)
    for name in ("set", "show", "delete"):
        hook = hooks.add_parser(name, help=f"{name} an account's webhook for an event")
        hook.add_argument("account_id")
        hook.add_argument("--event", required=True, choices=sorted(admin.WEBHOOK_FIELDS))
    hooks.choices["set"].add_argument("--url", required=True)
    hooks.choices["set"].add_argument(
        "--fields", help="password_call: comma-separated body variables (default: all of "
        + ", ".join(admin.WEBHOOK_FIELDS["password_call"]) + "); verification: none, it "
        "carries the whole object")

    dnc = commands.add_parser("dnc", help="the do-not-call list")
    dnc_actions = dnc.add_subparsers(dest="action", required=True)
    for name in ("add", "remove"):
        dnc_actions.add_parser(name, help=f"{name} an E.164 number").add_argument("number")
    dnc_actions.add_parser("list", help="print the list, one number a line")

    prefix = commands.add_parser("prefix", help="prefixes the velocity alarm blocked")
    prefix_actions = prefix.add_subparsers(dest="action", required=True)
    prefix_actions.add_parser("list", help="print each blocked prefix and when")
    prefix_actions.add_parser("unblock", help="let calls to a prefix through again").add_argument(
        "prefix")

    phone = commands.add_parser("phone", help="softphones that register to Asterisk for a number")
    phone_actions = phone.add_subparsers(dest="action", required=True)
    phone_actions.add_parser("add", help="make a SIP account for an E.164 number; prints its "
                             "fields (the password once)").add_argument("number")
    phone_actions.add_parser("remove", help="delete a number's softphone account").add_argument(
        "number")
    phone_actions.add_parser("list", help="the numbers with a softphone, and whether registered")

    commands.add_parser("purge", help="remove a number's verifications, deliveries and flood "
                        "marks (its do-not-call entry stays)").add_argument("number")

    api = commands.add_parser("api", help="serve the HTTP API only")
    api.add_argument("--workers", type=int, default=1,
                     help="API processes sharing the port (SO_REUSEPORT), default 1")
    commands.add_parser("run", help="run api, engine and delivery in one process")
    commands.add_parser("engine", help="run the call engine only")
    commands.add_parser("deliver", help="run the callback delivery worker only")
    commands.add_parser("settings", help="print the settings (secrets masked)")
    return parser


async def admin_command(args: argparse.Namespace, settings: Settings) -> str:
    """Run one account, webhook, dnc, prefix or purge command against Redis; returns
    what to print."""
    redis = connect_redis(settings.redis_url)
    store = Store(redis, settings.code_key)
    try:
        if args.command == "dnc":
            if args.action == "list":
                return "\n".join(await store.dnc.list())
            number = admin.dnc_number(args.number)
            await (store.dnc.add if args.action == "add" else store.dnc.remove)(number)
            return number
        if args.command == "prefix":
            if args.action == "list":
                return await admin.blocked_prefixes(store)
            return await admin.unblock_prefix(store, args.prefix)
        if args.command == "purge":
            return json.dumps(await admin.purge(store, args.number))
        if args.command == "webhook":
            return json.dumps(await webhook_command(args, store, settings.egress_allow))
        if args.action == "webhook-secret":  # the secret alone, for a shell variable
            return await admin.webhook_secret(store, args.account_id, args.rotate)
        if args.action == "create":
            result = await admin.create_account(store, args.name, args.credits)
        elif args.action == "credit":
            result = await admin.credit_account(store, args.account_id, args.amount)
        elif args.action == "debit":
            result = await admin.debit_account(store, args.account_id, args.amount)
        elif args.action in ("rotate-key", "rotate-token"):
            which = "api_key" if args.action == "rotate-key" else "token"
            result = await admin.rotate_credential(store, args.account_id, which)
        elif args.action == "show":
            result = await admin.show_account(store, args.account_id)
        elif args.action == "ring-window":
            result = await admin.set_ring_window(store, args.account_id, args.seconds)
        elif args.action == "locale":
            result = await admin.account_locale(store, args.account_id, args.locale)
        elif args.action == "spend-limit":
            result = await admin.set_spend_limit(store, args.account_id, args.units)
        elif args.action == "caller-id":
            result = await admin.caller_id_command(store, args.caller_id_action, args.account_id,
                                                   getattr(args, "number", None),
                                                   settings.default_caller_id)
        else:
            disabled = args.action == "disable"
            result = await admin.set_account_disabled(store, args.account_id, disabled)
        return json.dumps(result)
    finally:
        await redis.aclose()


async def webhook_command(args: argparse.Namespace, store: Store,
                          egress_allow: tuple[str, ...] = ()) -> dict:
    """webhook set / show / delete for one account and event."""
    if args.action == "set":
        return await admin.set_webhook(store, args.account_id, args.event, args.url, args.fields,
                                       egress_allow)
    if args.action == "show":
        return await admin.show_webhook(store, args.account_id, args.event)
    return await admin.delete_webhook(store, args.account_id, args.event)


def run_components(settings: Settings, components: set[str], workers: int = 1) -> int:
    """Run the service's `components` until SIGINT or SIGTERM (api/service.py)."""
    # Imported here: the admin commands need neither the engine's modules nor aiohttp's.
    from api.service import run

    return run(settings, components, workers)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `callverify` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings, warnings = read_settings()
    except SettingsError as exc:  # before any command runs: nothing starts half-configured
        for line in exc.problems:
            print(f"callverify: {line}", file=sys.stderr)
        return 2
    if args.command not in SERVICES:  # a service logs them, once it has a log
        for line in warnings:
            print(f"callverify: warning: {line}", file=sys.stderr)
    try:
        if args.command == "settings":
            print(repr(settings))
        elif args.command in ("account", "webhook", "dnc", "prefix", "purge"):
            output = asyncio.run(admin_command(args, settings))
            if output:
                print(output)
        elif args.command == "phone":
            # Imported here: only this admin command needs ARI (and aiohttp).
            from api.phone_admin import phone_main

            return phone_main(args.action, getattr(args, "number", None), settings)
        else:
            log_output.configure()
            for line in warnings:
                log.warning("%s", line)
            return run_components(settings, SERVICES[args.command], getattr(args, "workers", 1))
    except admin.AdminError as exc:
        print(f"callverify: {exc}", file=sys.stderr)
        return 2
    except REDIS_DOWN as exc:
        print(f"callverify: Redis not reachable (CALLVERIFY_REDIS_URL): {type(exc).__name__}",
              file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"callverify: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
