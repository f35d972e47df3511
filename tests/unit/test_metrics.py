"""The pure parts of /metrics and /readyz: a verdict's result word, the
timings observed, the queue's gauges, the engines' health and the listener setting."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from api.metrics_listener import metrics_address
from engine import metrics
from engine.engine_health import EngineHealth, not_ready, parse
from engine.metrics_snapshot import engine_gauges, queue_gauges
from engine.outcome import CallOutcome
from engine.settings import Settings, SettingsError, load_settings
from engine.verification import Verification


@pytest.mark.parametrize("flow, outcome, result", [
    ("reverse_verify", CallOutcome(answered=True, matched=True, digits_count=4), "verified"),
    ("dtmf", CallOutcome(answered=True, digits_count=4, attempts=3), "wrong_code"),
    ("reverse_verify", CallOutcome(answered=True, attempts=3), "no_input"),
    ("reverse_verify", CallOutcome(failure="ring_timeout"), "no_answer"),
    ("reverse_verify", CallOutcome(cause=19), "no_answer"),
    ("reverse_verify", CallOutcome(cause=20), "no_answer"),
    ("reverse_verify", CallOutcome(cause=17, sip_status=486), "busy"),
    ("reverse_verify", CallOutcome(cause=21, sip_status=603), "rejected"),
    ("reverse_verify", CallOutcome(cause=16), "rejected"),
    ("reverse_verify", CallOutcome(cause=34), "congestion"),
    ("reverse_verify", CallOutcome(cause=0, sip_status=503), "congestion"),
    ("reverse_verify", CallOutcome(cause=23), "redirected"),
    ("reverse_verify", CallOutcome(failure="originate_failed"), "call_failed"),
    ("reverse_verify", CallOutcome(failure="expired"), "expired"),
    ("reverse_verify", CallOutcome(failure="canceled"), "canceled"),
    ("reverse_verify", CallOutcome(failure="engine_lost"), "engine_lost"),
    ("password_call", CallOutcome(failure="account_disabled"), "account_disabled"),
    ("password_call", CallOutcome(answered=True, ringing_at=1.0), "answered"),
    ("cli", CallOutcome(ringing_at=1.0, failure="ring_timeout"), "rang"),
    ("password_call", CallOutcome(cause=17), "busy"),
    ("voice", CallOutcome(answered=True), "answered"),
    ("voice", CallOutcome(cause=17), "busy"),
])
def test_each_verdict_gets_one_word_of_the_fixed_set(flow, outcome, result):
    assert metrics.verdict_result(flow, outcome) == result
    assert result in metrics.RESULTS


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_verdict_counts_once_and_observes_its_timings():
    verification = Verification(flow="dtmf", id="v1", created_at=1000.0)
    outcome = CallOutcome(answered=True, matched=True, placed_at=1000.4, last_digit_at=1010.0)
    counted = sample("callverify_verifications_total", flow="reverse_verify", result="verified")
    invites = sample("callverify_request_to_invite_seconds_count", flow="reverse_verify")
    quick = sample("callverify_request_to_invite_seconds_bucket", flow="reverse_verify", le="0.5")
    digits = sample("callverify_digit_to_verdict_seconds_sum", flow="reverse_verify")
    metrics.note_verdict(verification, outcome, now=1010.25)
    assert sample("callverify_verifications_total", flow="reverse_verify",
                  result="verified") == counted + 1
    assert sample("callverify_request_to_invite_seconds_count",
                  flow="reverse_verify") == invites + 1
    assert sample("callverify_request_to_invite_seconds_bucket", flow="reverse_verify",
                  le="0.5") == quick + 1
    assert sample("callverify_digit_to_verdict_seconds_sum",
                  flow="reverse_verify") == pytest.approx(digits + 0.25)


def test_a_verdict_without_a_call_observes_no_timing():
    invites = sample("callverify_request_to_invite_seconds_count", flow="password_call")
    metrics.note_verdict(Verification(flow="password_call", created_at=5.0),
                         CallOutcome(failure="expired"))
    assert sample("callverify_request_to_invite_seconds_count", flow="password_call") == invites


def test_every_metric_has_labels_so_workers_make_its_values_after_sharing():
    kept = [m for m in vars(metrics).values() if hasattr(m, "_labelnames")]
    assert len(kept) == 6
    assert all(m._labelnames for m in kept)


def test_the_queue_gauges_count_waiting_and_taken_jobs_and_the_oldest_waiting_age():
    groups = [{"name": b"engines", "pending": 2, "last-delivered-id": b"1000-0"}]
    jobs, age = queue_gauges(5, groups, b"1500-0", now_ms=4000)
    assert {s.labels["state"]: s.value for s in jobs.samples} == {"waiting": 3, "taken": 2}
    assert age.samples[0].value == 2.5
    jobs, age = queue_gauges(0, [], None, now_ms=4000)
    assert {s.labels["state"]: s.value for s in jobs.samples} == {"waiting": 0, "taken": 0}
    assert age.samples[0].value == 0


def test_an_engines_health_word_is_read_by_redis_clock():
    assert parse("e1", "105 1 0 3", now=100) == EngineHealth("e1", True, True, False, 3)
    assert parse("e1", "99 1 1 0", now=100).live is False
    assert parse("e1", "garbage", now=100) is None


@pytest.mark.parametrize("engines, problem", [
    ([], "ari not connected"),
    ([EngineHealth("a", False, True, True, 0)], "ari not connected"),  # silent too long
    ([EngineHealth("a", True, False, False, 0)], "ari not connected"),
    ([EngineHealth("a", True, True, False, 0)], "trunk endpoint trunk not found"),
    ([EngineHealth("a", True, False, False, 0), EngineHealth("b", True, True, True, 2)], ""),
])
def test_readiness_needs_one_live_engine_on_ari_with_the_trunk(engines, problem):
    assert not_ready(engines, "trunk") == problem


def test_the_engine_gauges_count_live_and_ready_engines():
    live, ready = engine_gauges([EngineHealth("a", True, True, True, 1),
                                 EngineHealth("b", True, False, False, 0),
                                 EngineHealth("c", False, True, True, 0)])
    assert (live.samples[0].value, ready.samples[0].value) == (2, 1)


@pytest.mark.parametrize("value, address", [
    ("127.0.0.1:9108", ("127.0.0.1", 9108)), ("[::1]:9200", ("::1", 9200)),
    (":9300", ("127.0.0.1", 9300)), ("off", None), ("OFF", None), ("", None),
])
def test_the_metrics_listener_setting(value, address):
    settings = load_settings({"CALLVERIFY_METRICS_LISTEN": value})
    assert metrics_address(settings.metrics_listen) == address


def test_the_metrics_listener_defaults_to_loopback_9108():
    assert Settings().metrics_listen == "127.0.0.1:9108"


@pytest.mark.parametrize("env, message", [
    ({"CALLVERIFY_METRICS_LISTEN": "9108"}, "must be host:port for /metrics"),
    ({"CALLVERIFY_METRICS_LISTEN": "127.0.0.1:70000"}, "must be host:port for /metrics"),
    ({"CALLVERIFY_API_LISTEN": "0.0.0.0:8080", "CALLVERIFY_METRICS_LISTEN": "127.0.0.1:8080"},
     "must not be the port of CALLVERIFY_API_LISTEN"),
])
def test_a_bad_metrics_listener_is_refused_by_name(env, message):
    with pytest.raises(SettingsError) as refused:
        load_settings(env)
    assert str(refused.value).startswith("CALLVERIFY_METRICS_LISTEN=")
    assert message in str(refused.value)


def test_every_series_of_the_fixed_label_sets_is_there_from_the_start():
    metrics.declare()
    assert REGISTRY.get_sample_value("callverify_verifications_total",
                                     {"flow": "voice", "result": "engine_lost"}) is not None
    assert REGISTRY.get_sample_value("callverify_requests_total",
                                     {"flow": "password_call", "result": "busy"}) is not None
    assert REGISTRY.get_sample_value("callverify_deliveries_given_up_total",
                                     {"kind": "verification_event"}) is not None
