"""Settings from the environment (prefix CALLVERIFY_) or a TOML file.

The environment wins over the file (CALLVERIFY_CONFIG names the file). When no
ARI password is set, the sandbox's state file supplies the ARI URL and
credentials, so `make run` needs no configuration at all.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "CALLVERIFY_"
# Premium-rate ranges: NANP 900/976, UK 09x and 087x revenue-share numbers.
DEFAULT_BLOCKED = ("1900", "1976", "4490", "4491", "4498", "44870", "44871", "44872", "44873")
SECRET_FIELDS = ("ari_password", "code_key")


@dataclass(frozen=True)
class Settings:
    api_listen: str = "127.0.0.1:8080"
    redis_url: str = "redis://127.0.0.1:6379/0"
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "callverify"
    ari_password: str = ""
    ari_app: str = "callverify"
    sandbox_instance: str = "main"
    trunk_uri: str = "sip:127.0.0.1:5070"
    trunk_endpoint: str = "trunk"
    default_caller_id: str = "0000000000"
    cli_prefix: str = "4212222"
    countries: tuple[str, ...] = ("1", "44", "421")
    blocked_prefixes: tuple[str, ...] = DEFAULT_BLOCKED
    call_price: int = 1
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
    cors_origins: tuple[str, ...] = ()
    tls_cert: str = ""
    tls_key: str = ""
    code_key: str = ""
    consumer_name: str = ""
    prompts: dict = field(default_factory=dict)
    event_loop: str = "uvloop"
    cpu_nice: int = 0  # `callverify run`/`engine`: see engine/priority.py; make run uses -10

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.api_listen.rpartition(":")
        return host or "127.0.0.1", int(port)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)


def _convert(name: str, raw, current):
    if isinstance(current, tuple):
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return tuple(str(part) for part in raw)
    if isinstance(current, bool):
        return str(raw).lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, dict):
        return dict(raw) if not isinstance(raw, str) else json.loads(raw)
    return str(raw)


def sandbox_dir() -> Path:
    return Path(os.environ.get("CALLVERIFY_SANDBOX_DIR", "/var/lib/callverify/sandbox"))


def sandbox_state(instance: str) -> dict:
    path = sandbox_dir() / "instances" / instance / "state.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def load_settings(env: dict | None = None, **overrides) -> Settings:
    env = os.environ if env is None else env
    defaults = Settings()
    values: dict = {}
    config_file = env.get(PREFIX + "CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            values.update(tomllib.load(fh))
    for f in fields(Settings):
        key = PREFIX + f.name.upper()
        if key in env:
            values[f.name] = env[key]
    values.update(overrides)
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    converted = {n: _convert(n, v, getattr(defaults, n)) for n, v in values.items()}
    settings = Settings(**converted)
    if not settings.ari_password:
        state = sandbox_state(settings.sandbox_instance)
        if state:
            settings = settings.replace(
                ari_url=state.get("ari_url", settings.ari_url),
                ari_user=state.get("ari_user", settings.ari_user),
                ari_password=state.get("ari_password", ""),
            )
    if not settings.consumer_name:
        settings = settings.replace(consumer_name=f"{os.uname().nodename}-{settings.ari_app}")
    return settings
