"""Settings from the environment (prefix CALLVERIFY_) or a TOML file.

The environment wins over the file (CALLVERIFY_CONFIG names the file). When no
ARI password is set, the sandbox's state file supplies the ARI URL and
credentials, and when no Redis URL is set, the file `make run`'s own Redis
left does (engine/project_redis.py), so `make run` needs no configuration at all.

Every value is checked (engine/settings_rules.py has the rules and why): a bad
one raises SettingsError, whose lines name each bad variable and what it
accepts, e.g. "CALLVERIFY_MAX_CONCURRENT_CALLS=0: must be a whole number >= 1".
The check runs whenever a Settings is made, so `replace` is checked too.

CALLVERIFY_COUNTRIES (calling codes) gave way to CALLVERIFY_REGIONS (ISO
region codes) in issue 17; for one release the old name is still read, as
every region of its calling codes, with a warning (`read_settings` returns
it; the CLI prints it, `load_settings` logs it).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.project_redis import project_redis_url, url_file
from engine.settings_rules import (
    PREFIX,
    RULES,
    SECRET_FIELDS,
    SettingsError,
    label,
    problems,
    shown,
)
from engine.settings_values import COUNTRY, REGION

__all__ = ["PREFIX", "SECRET_FIELDS", "Settings", "SettingsError", "load_settings",
           "read_settings"]
log = logging.getLogger(__name__)
# Premium-rate ranges: NANP 900/976, UK 09x and 087x revenue-share numbers.
DEFAULT_BLOCKED = ("1900", "1976", "4490", "4491", "4498", "44870", "44871", "44872", "44873")


@dataclass(frozen=True)
class Settings:
    api_listen: str = "127.0.0.1:8080"
    metrics_listen: str = "127.0.0.1:9108"  # /metrics' own listener; off: none
    redis_url: str = "redis://127.0.0.1:6379/0"
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "callverify"
    ari_password: str = ""
    ari_app: str = "callverify"
    sandbox_instance: str = "main"
    trunk_uri: str = "sip:127.0.0.1:5070"
    trunk_endpoint: str = "trunk"
    test_numbers: bool = True  # the sandbox's test numbers (engine/routes.py)
    default_caller_id: str = "0000000000"
    cli_prefix: str = "4212222"
    regions: tuple[str, ...] = ("US", "CA", "GB", "GG", "JE", "IM", "SK")
    blocked_prefixes: tuple[str, ...] = DEFAULT_BLOCKED
    call_price: int = 1
    call_prices: dict = field(default_factory=dict)
    prefix_alarm_per_minute: int = 30
    egress_allow: tuple[str, ...] = ()
    max_queue_seconds: float = 60.0
    rate_per_key: str = "50/100"  # RATE[/BURST] a second; see settings_values.rate_and_burst
    rate_per_address: str = "20/40"
    trusted_proxies: tuple[str, ...] = ()
    daily_cap_per_number: int = 10
    read_timeout: float = 10.0
    max_connections: int = 2000
    retention_days: int = 7
    flood_seconds: int = 60
    ring_timeout: float = 30.0
    first_digit_timeout: float = 10.0
    inter_digit_timeout: float = 5.0
    max_attempts: int = 3
    call_cap_seconds: int = 180
    max_concurrent_calls: int = 200
    claim_idle_seconds: float = 300.0
    callback_timeout: float = 10.0
    delivery_backoff_base: float = 5.0
    delivery_backoff_max: float = 600.0
    delivery_give_up_seconds: float = 7200.0
    password_call_prices: dict = field(default_factory=lambda: {"421": 83})
    password_call_default_price: int = 100
    money_scale: int = 10000
    password_ring_seconds: float = 30.0
    redirect_wait_seconds: float = 10.0
    check_window_seconds: int = 600  # how long a /v1 voice or caller-ID code takes checks
    max_checks: int = 5
    cors_origins: tuple[str, ...] = ()
    tls_cert: str = ""
    tls_key: str = ""
    code_key: str = ""
    consumer_name: str = ""
    prompts: dict = field(default_factory=dict)
    event_loop: str = "uvloop"
    cpu_nice: int = 0  # `callverify run`/`engine`: see engine/priority.py; make run uses -10

    def __post_init__(self) -> None:
        found = problems(vars(self), lambda name: label(name, getattr(self, name), python=True))
        if found:
            raise SettingsError(found)

    def __repr__(self) -> str:
        """Every field; passwords (ARI, code key, the one in a URL) masked."""
        parts = (f"{f.name}={shown(f.name, getattr(self, f.name))!r}" for f in fields(self))
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.api_listen.rpartition(":")
        return host or "127.0.0.1", int(port)

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)


def sandbox_dir() -> Path:
    return Path(os.environ.get("CALLVERIFY_SANDBOX_DIR", "/var/lib/callverify/sandbox"))


def sandbox_state(instance: str) -> dict:
    path = sandbox_dir() / "instances" / instance / "state.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _read_config(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (OSError, ValueError) as exc:
        raise SettingsError([f"{PREFIX}CONFIG={path}: cannot be read as TOML ({exc})"]) from None


def _gather(env, overrides: dict) -> dict[str, tuple[Any, str]]:
    """Each given setting's raw value and where it was set ("" for the environment
    or `overrides`; "name in FILE" for the TOML file)."""
    given: dict[str, tuple[Any, str]] = {}
    config_file = env.get(PREFIX + "CONFIG")
    if config_file:
        for name, value in _read_config(config_file).items():
            given[name] = (value, f"{name} in {config_file}")
    for f in fields(Settings):
        key = PREFIX + f.name.upper()
        if key in env:
            given[f.name] = (env[key], "")
    if PREFIX + "COUNTRIES" in env:
        given["countries"] = (env[PREFIX + "COUNTRIES"], "")
    given.update((name, (value, "")) for name, value in overrides.items())
    return given


def _legacy_countries(given: dict[str, tuple[Any, str]], found: list[str]) -> list[str]:
    """Replace a given `countries` (CALLVERIFY_COUNTRIES, before issue 17) by the
    regions of its calling codes, unless regions are given; the warnings to show.
    A bad value goes to `found`."""
    if "countries" not in given:
        return []
    raw, origin = given.pop("countries")
    old, new = label("countries", raw, origin), f"{PREFIX}REGIONS"
    if "regions" in given:
        return [f"{old} is no longer read ({new} is set): remove it"]
    try:
        codes = convert(raw, ())
        if not codes or not all(isinstance(c, str) and COUNTRY.fullmatch(c) for c in codes):
            raise ValueError(raw)
    except (TypeError, ValueError):
        found.append(f"{old}: must be a comma-separated list of country calling codes "
                     f"(1-3 digits), at least one; better, set {new} instead")
        return []
    import phonenumbers  # imported only when the old name is used

    regions = tuple(region for code in codes
                    for region in phonenumbers.region_codes_for_country_code(int(code))
                    if REGION.fullmatch(region) and region != phonenumbers.UNKNOWN_REGION)
    if not regions:
        found.append(f"{old}: names no region: set {new} (ISO region codes, e.g. US,GB)")
        return []
    given["regions"] = (regions, origin)
    return [f"{old} is deprecated and read this release only, as {new}={','.join(regions)} "
            f"(every region of those calling codes); set {new} to the regions you serve "
            f"(ISO codes; default {','.join(Settings.regions)})"]


def convert(raw: Any, default: Any) -> Any:
    """Text from the environment, or a TOML or Python value, as the type of `default`.
    TypeError or ValueError when it is not one (no silent truncation of 6.5 to 6)."""
    if isinstance(default, tuple):
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, (list, tuple)):
            return tuple(str(part) if isinstance(part, int) else part for part in raw)
        raise TypeError(raw)
    if isinstance(default, bool):
        word = str(raw).strip().lower()
        if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ValueError(raw)
        return word in ("1", "true", "yes", "on")
    if isinstance(default, int):
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise TypeError(raw)
        return int(raw)
    if isinstance(default, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise TypeError(raw)
        return float(raw)
    if isinstance(default, dict):
        value = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(value, dict):
            raise TypeError(raw)
        return dict(value)
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise TypeError(raw)
    return str(raw)


def load_settings(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """The settings from `env` (default: os.environ), its CALLVERIFY_CONFIG file
    and `overrides`, checked; SettingsError names every bad value at once.
    Warnings (a deprecated name read) are logged."""
    settings, warnings = read_settings(env, **overrides)
    for warning in warnings:
        log.warning("%s", warning)
    return settings


def read_settings(env: Mapping[str, str] | None = None,
                  **overrides) -> tuple[Settings, list[str]]:
    """load_settings' settings and its warnings, for a caller that shows them itself."""
    env = os.environ if env is None else env
    given = _gather(env, overrides)
    found: list[str] = []
    warnings = _legacy_countries(given, found)
    defaults = {f.name: getattr(Settings(), f.name) for f in fields(Settings)}
    found += [f"{origin or name}: not a setting" for name, (_, origin) in given.items()
              if name not in defaults]
    values = {}
    for name, (raw, origin) in given.items():
        if name not in defaults:
            continue
        try:
            values[name] = convert(raw, defaults[name])
        except (TypeError, ValueError):  # its default stands in, so the rules pass it
            found.append(f"{label(name, raw, origin)}: must be {RULES[name].accepts}")
    found += problems({**defaults, **values},
                      lambda name: label(name, *given.get(name, (defaults[name], ""))))
    if found:
        raise SettingsError(found)
    settings = Settings(**values)
    if "redis_url" not in given:
        settings = _with_project_redis(settings, warnings)
    if not settings.ari_password:
        settings = _with_sandbox_ari(settings)
    if not settings.consumer_name:
        settings = settings.replace(consumer_name=f"{os.uname().nodename}-{settings.ari_app}")
    return settings, warnings


def _with_project_redis(settings: Settings, warnings: list[str]) -> Settings:
    """The URL of `make run`'s own Redis (engine/project_redis.py), if it has one."""
    url, warning = project_redis_url()
    warnings += [warning] if warning else []
    try:
        return settings.replace(redis_url=url) if url else settings
    except SettingsError as exc:
        raise SettingsError([f"{line} (from {url_file()})" for line in exc.problems]) from None


def _with_sandbox_ari(settings: Settings) -> Settings:
    """The sandbox's ARI URL and credentials, from its state file, if it has one."""
    state = sandbox_state(settings.sandbox_instance)
    if not state:
        return settings
    try:
        return settings.replace(ari_url=state.get("ari_url", settings.ari_url),
                                ari_user=state.get("ari_user", settings.ari_user),
                                ari_password=state.get("ari_password", ""))
    except SettingsError as exc:
        where = sandbox_dir() / "instances" / settings.sandbox_instance / "state.json"
        raise SettingsError([f"{line} (from {where})" for line in exc.problems]) from None
