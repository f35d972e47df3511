"""What each setting accepts, and the error that names a bad one.

engine/settings.py checks every Settings against RULES (on construction, so
`replace` too) and load_settings converts the environment's and the TOML
file's text with `convert` first, so a bad value stops start-up with a line
such as

    CALLVERIFY_RING_TIMEOUT=-5: must be a number of seconds >= 1

naming the variable and what it accepts, every bad value at once. Values
shown in messages have passwords masked (`mask_url`, SECRET_FIELDS).

Each rule follows what the code does with the value; where the bound is not
obvious, the rule's message says it (ring_timeout >= 1: ARI takes whole seconds).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.loop import LOOPS
from engine.settings_values import (
    APP_NAME,
    CLI_PREFIX,
    ENDPOINT,
    INSTANCE,
    PREFIX_DIGITS,
    PROMPT_NAMES,
    REGION,
    SIP_URI,
    is_ari_url,
    is_default_caller_id,
    is_listen,
    is_networks,
    is_number,
    is_origins,
    is_prices,
    is_prompts,
    is_rate,
    is_redis_url,
    is_region_prices,
    is_text,
    is_whole,
)

PREFIX = "CALLVERIFY_"
SECRET_FIELDS = ("ari_password", "code_key")
URL_FIELDS = ("redis_url", "ari_url")
RING_WINDOW_SECONDS = (5, 120)  # as api.admin.RING_SECONDS

class SettingsError(ValueError):
    """Bad settings: one line per problem, each naming its variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Rule:
    accepts: str  # completes "must be ..."
    check: Callable[[Any], bool]


def seconds(low: float, *, above: bool = False, high: float | None = None) -> Rule:
    """A finite number of seconds >= low (> low with `above`), <= high if given."""
    if high is not None:
        return Rule(f"a number of seconds from {low} to {high}",
                    lambda v: is_number(v) and low <= v <= high)
    if above:
        return Rule(f"a number of seconds > {low}", lambda v: is_number(v) and v > low)
    return Rule(f"a number of seconds >= {low}", lambda v: is_number(v) and v >= low)


def whole(low: int, high: int | None = None, what: str = "a whole number") -> Rule:
    if high is not None:
        return Rule(f"{what} from {low} to {high}", lambda v: is_whole(v) and low <= v <= high)
    return Rule(f"{what} >= {low}", lambda v: is_whole(v) and v >= low)


def matching(pattern: re.Pattern, accepts: str) -> Rule:
    return Rule(accepts, lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None)


def each(pattern: re.Pattern, accepts: str, *, at_least: int = 0) -> Rule:
    return Rule(accepts, lambda v: isinstance(v, (tuple, list)) and len(v) >= at_least
                and all(isinstance(x, str) and pattern.fullmatch(x) for x in v))


POSITIVE = seconds(0, above=True)
RULES: dict[str, Rule] = {
    "api_listen": Rule("host:port with a port from 1 to 65535 (an IPv6 address in brackets, "
                       "e.g. [::1]:8080)", lambda v: isinstance(v, str) and is_listen(v)),
    "metrics_listen": Rule("host:port for /metrics (e.g. 127.0.0.1:9108), or off",
                           lambda v: isinstance(v, str) and (v.strip().lower() in ("", "off")
                                                             or is_listen(v))),
    "redis_url": Rule("a redis://, rediss:// or unix:// URL (e.g. redis://127.0.0.1:6379/0)",
                      lambda v: isinstance(v, str) and is_redis_url(v)),
    "ari_url": Rule("an http:// or https:// URL of Asterisk's HTTP server "
                    "(e.g. http://127.0.0.1:8088)", lambda v: isinstance(v, str) and is_ari_url(v)),
    "ari_user": Rule("a user name without ':'",
                     lambda v: isinstance(v, str) and bool(v) and ":" not in v),
    "ari_password": Rule("text", is_text),
    "ari_app": matching(APP_NAME, "a name of letters, digits, '_', '.' or '-'"),
    "sandbox_instance": matching(INSTANCE, "a name of a-z, 0-9, '_' or '-' (at most 32, "
                                 "starting with a letter or digit)"),
    "trunk_uri": matching(SIP_URI, "a SIP URI (e.g. sip:127.0.0.1:5070)"),
    "test_numbers": Rule("1 or 0 (also true/false, yes/no, on/off)", lambda v: isinstance(v, bool)),
    "trunk_endpoint": matching(ENDPOINT, "a PJSIP endpoint name (no spaces, '/', '@', ',', '&')"),
    "default_caller_id": Rule("1-15 digits: all zeros, or an E.164 number that may be shown (not "
                              "emergency, short or premium: engine/caller_ids.py)", is_default_caller_id),
    "cli_prefix": matching(CLI_PREFIX, "at most 11 digits, not starting with 0 (the calling "
                           "number is this prefix and a 4-digit code)"),
    "regions": each(REGION, "a comma-separated list of ISO 3166 region codes (e.g. US,GB,SK), "
                    "at least one", at_least=1),
    "call_prices": Rule("a JSON object (in TOML, a table) of ISO region codes or E.164 prefixes to "
                        'whole numbers of balance units >= 0, e.g. {"GB": 2, "1876": 50}',
                        is_region_prices),
    "prefix_alarm_per_minute": whole(0, what="a whole number of calls a minute (0: no alarm)"),
    "egress_allow": Rule("a comma-separated list of CIDR networks (e.g. 127.0.0.0/8,10.1.0.0/16), "
                         "or empty", is_networks),
    "blocked_prefixes": each(PREFIX_DIGITS, "a comma-separated list of E.164 prefixes "
                             "(1-15 digits, not starting with 0), or empty"),
    "call_price": whole(0, what="a whole number of balance units"),
    "flood_seconds": whole(1, what="a whole number of seconds"),
    "ring_timeout": seconds(1),
    "first_digit_timeout": POSITIVE,
    "inter_digit_timeout": POSITIVE,
    "max_attempts": whole(1),
    "call_cap_seconds": whole(1, what="a whole number of seconds"),
    "max_concurrent_calls": whole(1),
    "claim_idle_seconds": seconds(1),
    "callback_timeout": POSITIVE,
    "delivery_backoff_base": POSITIVE,
    "delivery_backoff_max": POSITIVE,
    "delivery_give_up_seconds": POSITIVE,
    "password_call_prices": Rule("a JSON object (in TOML, a table) of country calling codes (1-3 digits) to whole "
                                 'numbers of balance units >= 0, e.g. {"421": 83}', is_prices),
    "password_call_default_price": whole(0, what="a whole number of balance units"),
    "money_scale": whole(1),
    "password_ring_seconds": seconds(RING_WINDOW_SECONDS[0], high=RING_WINDOW_SECONDS[1]),
    "redirect_wait_seconds": seconds(0),
    "check_window_seconds": whole(1, what="a whole number of seconds"),
    "max_checks": whole(1),
    "cors_origins": Rule("a comma-separated list of origins, each http(s)://host[:port] "
                         "without a path, or empty", is_origins),
    "tls_cert": Rule("a file path, or empty", is_text), "tls_key": Rule("a file path, or empty", is_text),
    "code_key": Rule("text", is_text), "consumer_name": Rule("text", is_text),
    "prompts": Rule(f"a JSON object (in TOML, a table) whose keys are among {', '.join(PROMPT_NAMES)} and whose "
                    'values are media URIs or lists of them, e.g. {"goodbye": ["sound:bye"]}',
                    is_prompts),
    "event_loop": Rule(f"one of {', '.join(LOOPS)}", lambda v: v in LOOPS),
    "cpu_nice": whole(-20, 19),
    "max_queue_seconds": seconds(1),
    "rate_per_key": Rule("a rate a second with an optional burst, RATE[/BURST] (e.g. 50/100; "
                         "the burst defaults to twice the rate), or 0 for no limit", is_rate),
    "rate_per_address": Rule("a rate a second with an optional burst, RATE[/BURST] (e.g. 20/40; "
                             "the burst defaults to twice the rate), or 0 for no limit", is_rate),
    "trusted_proxies": Rule("a comma-separated list of CIDR networks of proxies whose "
                            "X-Forwarded-For is believed, or empty", is_networks),
    "daily_cap_per_number": whole(0, what="a whole number of calls a day (0: no cap)"),
    "read_timeout": seconds(1),
    "max_connections": whole(1),
    # Up to ten years: Redis refuses an expiry time past its range.
    "retention_days": whole(1, 3650, what="a whole number of days"),
}


def env_name(name: str) -> str:
    return PREFIX + name.upper()


def mask_url(url: str) -> str:
    """`url` with the password in its user part and any password= parameter masked."""
    scheme, sep, rest = url.partition("://")
    if sep:
        at = rest.rfind("@")
        user, colon, _ = rest[:max(at, 0)].partition(":")
        if at >= 0 and colon:
            rest = f"{user}:***{rest[at:]}"
        url = scheme + sep + rest
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def shown(name: str, value: Any) -> Any:
    """The value as it may be printed: secrets masked."""
    if name in SECRET_FIELDS and value:
        return "***"
    if name in URL_FIELDS and isinstance(value, str):
        return mask_url(value)
    return value


def label(name: str, value: Any, origin: str = "", *, python: bool = False) -> str:
    """`CALLVERIFY_NAME=value`, secrets masked, then where it was set if not the
    environment; with `python`, the value as Python writes it (a Settings made in code)."""
    value = shown(name, value)
    if python:
        text = repr(value)
    elif isinstance(value, str) and value and not re.search(r"\s", value):
        text = value
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, default=str)
    else:
        text = repr(value)
    return f"{env_name(name)}={text}" + (f" ({origin})" if origin else "")


def problems(values: Mapping[str, Any], name_of: Callable[[str], str]) -> list[str]:
    """What is wrong with `values` (every field), one line each; `name_of(field)`
    labels a field (see `label`)."""
    found = []
    for name, rule in RULES.items():
        try:
            good = rule.check(values[name])
        except (TypeError, ValueError, AttributeError):
            good = False
        if not good:
            found.append(f"{name_of(name)}: must be {rule.accepts}")
    if bool(values["tls_cert"]) != bool(values["tls_key"]):
        found.append(f"{env_name('tls_cert')} and {env_name('tls_key')}: "
                     "set both (HTTPS) or neither (HTTP)")
    api, metrics = values["api_listen"], values["metrics_listen"]
    if (isinstance(api, str) and isinstance(metrics, str) and is_listen(metrics)
            and metrics.rpartition(":")[2] == api.rpartition(":")[2]):
        found.append(f"{name_of('metrics_listen')}: must not be the port of "
                     f"{env_name('api_listen')} (/metrics is never on the public listener)")
    base, top = values["delivery_backoff_base"], values["delivery_backoff_max"]
    if is_number(base) and is_number(top) and top < base:
        found.append(f"{name_of('delivery_backoff_max')}: must be >= "
                     f"{env_name('delivery_backoff_base')} ({base})")
    # A delivery's record expires with the retention time: it must be given up before.
    give_up, days = values["delivery_give_up_seconds"], values["retention_days"]
    if is_number(give_up) and is_whole(days) and give_up >= days * 24 * 3600:
        found.append(f"{name_of('delivery_give_up_seconds')}: must be less than the "
                     f"retention time ({env_name('retention_days')}={days}: "
                     f"{days * 24 * 3600} s), when a delivery's record expires")
    return found
