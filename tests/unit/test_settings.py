"""engine.settings: bad values are refused at start, each named with what it
accepts; the command line exits 2 with those lines; secrets never printed."""
from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api import admin
from api.cli import main
from engine import loop
from engine.flows.reverse_verify import DEFAULT_PROMPTS
from engine.settings import Settings, SettingsError, load_settings, read_settings
from engine.settings_rules import PROMPT_NAMES, RING_WINDOW_SECONDS, RULES

ROOT = Path(__file__).resolve().parents[2]


def refusal(env: dict) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    return str(caught.value)


@pytest.mark.parametrize("variable, value, accepts", [
    ("CALLVERIFY_RING_TIMEOUT", "-5", "must be a number of seconds >= 1"),
    ("CALLVERIFY_API_LISTEN", "nonsense", "must be host:port with a port from 1 to 65535"),
    ("CALLVERIFY_MAX_CONCURRENT_CALLS", "0", "must be a whole number >= 1"),
])
def test_the_issues_examples_are_refused_by_name(variable, value, accepts):
    assert refusal({variable: value}).startswith(f"{variable}={value}: {accepts}")


@pytest.mark.parametrize("variable, value", [
    ("CALLVERIFY_MAX_ATTEMPTS", "abc"), ("CALLVERIFY_MAX_ATTEMPTS", "2.5"),
    ("CALLVERIFY_RING_TIMEOUT", "soon"), ("CALLVERIFY_FIRST_DIGIT_TIMEOUT", "nan"),
    ("CALLVERIFY_CALLBACK_TIMEOUT", "inf"), ("CALLVERIFY_PASSWORD_CALL_PRICES", "{83"),
    ("CALLVERIFY_PROMPTS", "[1]"),
])
def test_what_does_not_convert_gets_the_same_kind_of_message(variable, value):
    message = refusal({variable: value})
    assert message.startswith(f"{variable}={value}: must be ")
    assert "Traceback" not in message and "invalid literal" not in message


@pytest.mark.parametrize("name, bad", [
    ("api_listen", "::1:8080"), ("api_listen", "127.0.0.1:0"), ("api_listen", "host:65536"),
    ("api_listen", "999.1.1.1:80"), ("api_listen", "[nope]:80"), ("api_listen", "8080"),
    ("redis_url", "http://127.0.0.1:6379/0"), ("redis_url", "redis://host/db"),
    ("redis_url", "redis://host:port/0"), ("redis_url", "unix://"),
    ("ari_url", "ws://127.0.0.1:8088"), ("ari_url", "127.0.0.1:8088"),
    ("ari_user", "a:b"), ("ari_app", "two words"), ("sandbox_instance", "../etc"),
    ("trunk_uri", "127.0.0.1:5070"), ("trunk_endpoint", "trunk/x"),
    ("default_caller_id", "+421"), ("default_caller_id", "1" * 16),
    ("default_caller_id", "911"), ("default_caller_id", "112"), ("default_caller_id", "4490123456"),
    ("cli_prefix", "0421"), ("cli_prefix", "1" * 12), ("countries", ""),
    ("countries", "1,+44"), ("countries", "0"), ("blocked_prefixes", "1900,09"),
    ("regions", ""), ("regions", "us"), ("regions", "USA"), ("regions", "001"),
    ("call_prices", '{"gb": 2}'), ("call_prices", '{"+44": 2}'), ("call_prices", '{"GB": -1}'),
    ("call_prices", '{"1876": 0.5}'), ("call_prices", "[1]"),
    ("call_price", "-1"), ("flood_seconds", "0"), ("ring_timeout", "0.5"),
    ("first_digit_timeout", "0"), ("inter_digit_timeout", "-1"), ("max_attempts", "0"),
    ("call_cap_seconds", "0"), ("claim_idle_seconds", "0"), ("callback_timeout", "0"),
    ("delivery_backoff_base", "0"), ("delivery_give_up_seconds", "-1"),
    ("password_call_prices", '{"421": -1}'), ("password_call_prices", '{"x": 1}'),
    ("password_call_prices", '{"421": 8.3}'), ("password_call_default_price", "-1"),
    ("money_scale", "0"), ("password_ring_seconds", "4"), ("password_ring_seconds", "121"),
    ("redirect_wait_seconds", "-1"), ("cors_origins", "*"),
    ("cors_origins", "https://app.example/"), ("prompts", '{"enter-code": "sound:x"}'),
    ("prompts", '{"goodbye": []}'), ("event_loop", "trio"), ("cpu_nice", "-21"),
    ("cpu_nice", "20"), ("max_queue_seconds", "0"), ("rate_per_key", "x"),
    ("rate_per_key", "5/0"), ("rate_per_address", "-1"), ("trusted_proxies", "10.0.0.0/33"),
    ("daily_cap_per_number", "-1"), ("read_timeout", "0.5"), ("max_connections", "0"),
    ("retention_days", "0"),
])
def test_each_rule_refuses(name, bad):
    variable = "CALLVERIFY_" + name.upper()
    assert refusal({variable: bad}).startswith(f"{variable}=")


@pytest.mark.parametrize("name, good", [
    ("api_listen", "[::1]:8080"), ("api_listen", "0.0.0.0:443"), ("api_listen", ":8080"),
    ("api_listen", "api.example.com:8080"), ("redis_url", "rediss://:pw@redis.example:6380/2"),
    ("redis_url", "unix:///run/redis.sock?db=1"), ("redis_url", "redis://127.0.0.1"),
    ("ari_url", "https://pbx.example/asterisk"), ("cli_prefix", ""),
    ("blocked_prefixes", ""), ("countries", "49"), ("regions", "DE, AT"),
    ("call_prices", '{"GB": 2, "1876": 50}'), ("call_prices", "{}"), ("flood_seconds", "1"),
    ("redirect_wait_seconds", "0"), ("rate_per_key", "0"), ("rate_per_key", "2.5"),
    ("rate_per_address", "20/40"), ("trusted_proxies", "10.0.0.0/8,::1"),
    ("daily_cap_per_number", "0"), ("cors_origins", "https://a.example, http://localhost:3000"),
    ("prompts", '{"goodbye": ["sound:bye"], "verified": "sound:ok"}'),
    ("password_call_prices", "{}"), ("event_loop", "asyncio"), ("cpu_nice", "-20"),
    ("max_attempts", " 5 "), ("ring_timeout", "1"),
])
def test_each_rule_accepts(name, good):
    load_settings({"CALLVERIFY_" + name.upper(): good})


def test_every_problem_is_reported_at_once():
    lines = refusal({"CALLVERIFY_RING_TIMEOUT": "-5", "CALLVERIFY_MAX_ATTEMPTS": "abc",
                     "CALLVERIFY_TLS_CERT": "/etc/cert.pem", "CALLVERIFY_DELIVERY_BACKOFF_MAX": "1"
                     }).splitlines()
    assert sorted(line.split("=")[0].split(":")[0] for line in lines) == [
        "CALLVERIFY_DELIVERY_BACKOFF_MAX", "CALLVERIFY_MAX_ATTEMPTS", "CALLVERIFY_RING_TIMEOUT",
        "CALLVERIFY_TLS_CERT and CALLVERIFY_TLS_KEY"]


def test_a_toml_files_bad_value_is_named_with_the_file(tmp_path):
    config = tmp_path / "callverify.toml"
    config.write_text('ring_timeout = -5\nmax_concurrent_calls = "many"\nring_timout = 3\n')
    lines = refusal({"CALLVERIFY_CONFIG": str(config)}).splitlines()
    assert f"ring_timout in {config}: not a setting" in lines
    assert f"CALLVERIFY_RING_TIMEOUT=-5 (ring_timeout in {config}): " \
           "must be a number of seconds >= 1" in lines
    assert f"CALLVERIFY_MAX_CONCURRENT_CALLS=many (max_concurrent_calls in {config}): " \
           "must be a whole number >= 1" in lines


def test_a_toml_file_gives_typed_values_and_the_environment_wins(tmp_path):
    config = tmp_path / "callverify.toml"
    config.write_text('cli_prefix = 4420794\nregions = ["US", "GB"]\nring_timeout = 20\n'
                      'max_attempts = 4.0\n[password_call_prices]\n"44" = 120\n'
                      '[call_prices]\nGB = 2\n"1876" = 50\n')
    settings = load_settings({"CALLVERIFY_CONFIG": str(config), "CALLVERIFY_RING_TIMEOUT": "25"})
    assert (settings.cli_prefix, settings.regions, settings.ring_timeout,
            settings.max_attempts, settings.password_call_prices, settings.call_prices) == (
        "4420794", ("US", "GB"), 25.0, 4, {"44": 120}, {"GB": 2, "1876": 50})


def test_a_fractional_whole_number_in_toml_is_refused_not_truncated(tmp_path):
    config = tmp_path / "callverify.toml"
    config.write_text("max_attempts = 2.5\n")
    assert "CALLVERIFY_MAX_ATTEMPTS=2.5" in refusal({"CALLVERIFY_CONFIG": str(config)})


def test_an_unreadable_config_file_is_named(tmp_path):
    missing = tmp_path / "nope.toml"
    assert refusal({"CALLVERIFY_CONFIG": str(missing)}).startswith(
        f"CALLVERIFY_CONFIG={missing}: cannot be read as TOML")
    broken = tmp_path / "broken.toml"
    broken.write_text("ring_timeout = \n")
    assert refusal({"CALLVERIFY_CONFIG": str(broken)}).startswith(f"CALLVERIFY_CONFIG={broken}")


def test_defaults_and_the_tests_overrides_are_accepted():
    assert load_settings({}).max_concurrent_calls == 200
    # tests/integration/conftest.py's settings fixture
    settings = load_settings(
        env={}, redis_url="redis://127.0.0.1:6400/0", ari_url="http://127.0.0.1:8588",
        ari_user="callverify", ari_password="pw", ari_app="cvtest", api_listen="127.0.0.1:40000",
        ring_timeout=6, first_digit_timeout=4, inter_digit_timeout=3,
        delivery_backoff_base=0.2, delivery_backoff_max=1, claim_idle_seconds=5,
        consumer_name="pytest-engine")
    assert (settings.ring_timeout, settings.delivery_backoff_base) == (6.0, 0.2)
    # tests/unit and tests/integration/api_harness.py construct and replace directly
    Settings(regions=("US", "SK"), blocked_prefixes=("1900", "42190"))
    Settings(password_call_prices={"421": 83, "44": 120}, password_call_default_price=100)
    Settings().replace(cli_prefix="", redirect_wait_seconds=0.5, cors_origins=("https://app.example",),
                       tls_cert="/tmp/c.pem", tls_key="/tmp/k.pem", flood_seconds=1, call_price=2)


def test_construction_and_replace_are_checked_too():
    with pytest.raises(SettingsError, match="CALLVERIFY_MAX_CONCURRENT_CALLS=0: must be"):
        Settings(max_concurrent_calls=0)
    with pytest.raises(SettingsError, match="CALLVERIFY_RING_TIMEOUT=-5: must be"):
        Settings().replace(ring_timeout=-5)
    with pytest.raises(SettingsError, match="CALLVERIFY_MAX_ATTEMPTS='3': must be"):
        Settings(max_attempts="3")  # not converted outside load_settings
    assert issubclass(SettingsError, ValueError)


def test_unknown_override_is_refused():
    with pytest.raises(SettingsError, match="^ring_timout: not a setting$"):
        load_settings({}, ring_timout=3)


def test_every_field_has_a_rule_and_the_shared_bounds_agree():
    assert set(RULES) == {f.name for f in dataclasses.fields(Settings)}
    assert set(PROMPT_NAMES) == set(DEFAULT_PROMPTS)
    assert RING_WINDOW_SECONDS == admin.RING_SECONDS
    assert "one of uvloop, asyncio" in RULES["event_loop"].accepts and loop.LOOPS == (
        "uvloop", "asyncio")


def test_repr_masks_every_password():
    settings = Settings(redis_url="redis://user:hunter2@redis.example:6379/0?password=hunter3",
                        ari_url="http://callverify:hunter4@127.0.0.1:8088",
                        ari_password="hunter5", code_key="hunter6")
    shown = repr(settings)
    assert "hunter" not in shown and str(settings) == shown
    assert "redis_url='redis://user:***@redis.example:6379/0?password=***'" in shown
    assert "ari_url='http://callverify:***@127.0.0.1:8088'" in shown
    assert "ari_password='***'" in shown and "code_key='***'" in shown
    assert "redis://:***@host/0" in repr(Settings(redis_url="redis://:secret@host/0"))
    assert "ari_password=''" in repr(Settings())  # unset is shown as unset


def test_a_refused_url_does_not_print_its_password():
    message = refusal({"CALLVERIFY_REDIS_URL": "http://:hunter2@127.0.0.1:6379/0",
                       "CALLVERIFY_ARI_PASSWORD": "hunter3", "CALLVERIFY_ARI_USER": "a:b"})
    assert "hunter" not in message and "CALLVERIFY_REDIS_URL=http://:***@127.0.0.1" in message


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No CALLVERIFY_* from the outside; empty sandbox and project Redis directories."""
    for key in list(os.environ):
        if key.startswith("CALLVERIFY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CALLVERIFY_SANDBOX_DIR", str(tmp_path))
    monkeypatch.setenv("CALLVERIFY_REDIS_DIR", str(tmp_path))
    return monkeypatch


@pytest.mark.parametrize("command", [["settings"], ["dnc", "list"], ["run"], ["api"]])
def test_the_cli_exits_2_with_the_message(clean_env, capsys, command):
    clean_env.setenv("CALLVERIFY_MAX_CONCURRENT_CALLS", "0")
    clean_env.setenv("CALLVERIFY_RING_TIMEOUT", "-5")
    assert main(command) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "callverify: CALLVERIFY_RING_TIMEOUT=-5: must be a number of seconds >= 1",
        "callverify: CALLVERIFY_MAX_CONCURRENT_CALLS=0: must be a whole number >= 1"]


def test_the_console_script_prints_no_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLVERIFY_")}
    env.update(PYTHONPATH=str(ROOT), CALLVERIFY_SANDBOX_DIR=str(tmp_path),
               CALLVERIFY_API_LISTEN="nonsense")
    done = subprocess.run([sys.executable, "-m", "api.cli", "engine"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("callverify: CALLVERIFY_API_LISTEN=nonsense: must be host:port")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_the_settings_command_masks_the_redis_password(clean_env, capsys):
    clean_env.setenv("CALLVERIFY_REDIS_URL", "redis://:hunter2@127.0.0.1:6379/0")
    clean_env.setenv("CALLVERIFY_ARI_PASSWORD", "hunter3")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "hunter" not in out
    assert "redis_url='redis://:***@127.0.0.1:6379/0'" in out and "ari_password='***'" in out


# -- CALLVERIFY_COUNTRIES, read for one release as CALLVERIFY_REGIONS -------

NANP_REGIONS = ("US", "AG", "AI", "AS", "BB", "BM", "BS", "CA", "DM", "DO", "GD", "GU", "JM",
                "KN", "KY", "LC", "MP", "MS", "PR", "SX", "TC", "TT", "VC", "VG", "VI")


def test_legacy_countries_are_read_as_every_region_of_their_calling_codes():
    settings, warnings = read_settings({"CALLVERIFY_COUNTRIES": "1,421"})
    assert settings.regions == (*NANP_REGIONS, "SK")
    [warning] = warnings
    assert warning.startswith("CALLVERIFY_COUNTRIES=1,421 is deprecated")
    assert "set CALLVERIFY_REGIONS" in warning


def test_legacy_countries_in_the_toml_file_too(tmp_path):
    config = tmp_path / "callverify.toml"
    config.write_text("countries = [44]\n")
    settings, [warning] = read_settings({"CALLVERIFY_CONFIG": str(config)})
    assert settings.regions == ("GB", "GG", "IM", "JE")
    assert f"(countries in {config})" in warning and "CALLVERIFY_REGIONS" in warning


def test_regions_win_over_legacy_countries_with_a_warning():
    settings, [warning] = read_settings({"CALLVERIFY_COUNTRIES": "1",
                                         "CALLVERIFY_REGIONS": "US,CA"})
    assert settings.regions == ("US", "CA")
    assert "no longer read (CALLVERIFY_REGIONS is set)" in warning


def test_without_legacy_countries_there_is_no_warning():
    settings, warnings = read_settings({})
    assert (settings.regions, warnings) == (("US", "CA", "GB", "GG", "JE", "IM", "SK"), [])
    assert not hasattr(settings, "countries")


@pytest.mark.parametrize("value", ["", "1,+44", "0", "800"])
def test_bad_legacy_countries_are_named(value):
    assert refusal({"CALLVERIFY_COUNTRIES": value}).startswith(f"CALLVERIFY_COUNTRIES={value}")


def test_load_settings_logs_the_warning_once(caplog):
    caplog.set_level(logging.WARNING)
    assert load_settings({"CALLVERIFY_COUNTRIES": "44"}).regions == ("GB", "GG", "IM", "JE")
    [record] = [r for r in caplog.records if "CALLVERIFY_COUNTRIES" in r.getMessage()]
    assert record.levelno == logging.WARNING and "CALLVERIFY_REGIONS" in record.getMessage()


def test_the_cli_prints_the_warning_on_stderr(clean_env, capsys):
    clean_env.setenv("CALLVERIFY_COUNTRIES", "421")
    assert main(["settings"]) == 0
    out, err = capsys.readouterr()
    assert "regions=('SK',)" in out
    [line] = err.splitlines()
    assert line.startswith("callverify: warning: CALLVERIFY_COUNTRIES=421 is deprecated")
    assert "CALLVERIFY_REGIONS" in line


def test_a_service_logs_the_warning_once(clean_env, capsys, caplog):
    clean_env.setenv("CALLVERIFY_COUNTRIES", "421")
    started = []
    clean_env.setattr("api.cli.log_output.configure", lambda: None)
    clean_env.setattr("api.cli.run_components",
                      lambda settings, *_: started.append(settings.regions) or 0)
    caplog.set_level(logging.WARNING)
    assert main(["api"]) == 0
    assert started == [("SK",)]
    assert "callverify: warning" not in capsys.readouterr().err
    [record] = [r for r in caplog.records if "CALLVERIFY_COUNTRIES" in r.getMessage()]
    assert record.name == "api.cli" and "CALLVERIFY_REGIONS" in record.getMessage()
