"""The counters and histograms each process keeps in memory (prometheus-client).

They are incremented where things happen, at the cost of a lock and an
addition: the accept step's answers (API), the verdicts and their timings
(engine), the deliveries that failed (deliverer). What lives in Redis (the
queue, the delivery backlog, the engines' ARI state) is read only when
/metrics is scraped (engine/metrics_snapshot.py). docs/metrics.md lists them.

Every metric here has labels, so its values are made on first use: under
`api --workers N` that is after the workers share their files
(`share_between_processes`), and each worker's counts reach the one answer.
"""
from __future__ import annotations

import os
import time

from prometheus_client import Counter, Histogram, values

from engine import accept_step
from engine.outcome import ACCOUNT_DISABLED, CANCELED, ENGINE_LOST, EXPIRED, CallOutcome
from engine.v1_status import call_reason
from engine.verification import Verification

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# The flows by the name their verifications store (today's and the one before
# flows had one name); any other name is counted as "other".
FLOW_NAMES = {"reverse_verify": "reverse_verify", "dtmf": "reverse_verify",
              "password_call": "password_call", "cli": "password_call", "voice": "voice"}
# What a call's verdict was, one word each (docs/metrics.md).
RESULTS = ("verified", "wrong_code", "no_input", "answered", "rang", "no_answer", "busy",
           "rejected", "congestion", "redirected", "call_failed", "expired", "canceled",
           "engine_lost", "account_disabled")
# The accept step's answers (prefix_alarm is answered as prefix_blocked).
ACCEPT_RESULTS = (accept_step.ACCEPTED, accept_step.UNKNOWN_KEY, accept_step.DISABLED,
                  accept_step.CALLER_ID_NOT_LISTED, accept_step.PREFIX_BLOCKED,
                  accept_step.DO_NOT_CALL, accept_step.FLOOD, accept_step.DAILY_CAP,
                  accept_step.NO_CREDIT, accept_step.SPEND_LIMIT, accept_step.RATE_LIMITED,
                  accept_step.BUSY)
DELIVERY_KINDS = ("reverse_verify_callback", "password_call_webhook", "verification_event")
# A verdict given without a call, by the failure it records.
NOT_CALLED = (EXPIRED, CANCELED, ENGINE_LOST, ACCOUNT_DISABLED)

ACCEPTS = Counter("callverify_requests", "Requests that reached the accept step, by flow "
                  "and its answer (accepted or the refusal's name)", ("flow", "result"))
VERDICTS = Counter("callverify_verifications", "Verdicts given, by flow and result",
                   ("flow", "result"))
REQUEST_TO_INVITE = Histogram(
    "callverify_request_to_invite_seconds",
    "From the request's acceptance to the call's originate (time queued and set up)",
    ("flow",), buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
DIGIT_TO_VERDICT = Histogram(
    "callverify_digit_to_verdict_seconds",
    "From the last key the person pressed to the stored verdict", ("flow",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
DELIVERY_ATTEMPTS_FAILED = Counter(
    "callverify_delivery_attempts_failed", "Callback and webhook attempts that failed "
    "(to be tried again, or given up)", ("kind",))
DELIVERIES_GIVEN_UP = Counter(
    "callverify_deliveries_given_up", "Callbacks and webhooks moved to the dead list", ("kind",))


def declare() -> None:
    """Make every series of the fixed label sets, at 0, so each is there
    before its first event (a rate over a series that appears later misses
    its first count). Called where /metrics is served, after any sharing."""
    for flow in sorted(set(FLOW_NAMES.values())):
        for result in RESULTS:
            VERDICTS.labels(flow, result)
        for result in ACCEPT_RESULTS:
            ACCEPTS.labels(flow, result)
        REQUEST_TO_INVITE.labels(flow)
        DIGIT_TO_VERDICT.labels(flow)
    for kind in DELIVERY_KINDS:
        DELIVERY_ATTEMPTS_FAILED.labels(kind)
        DELIVERIES_GIVEN_UP.labels(kind)


def flow_label(flow: str) -> str:
    return FLOW_NAMES.get(flow, "other")


def verdict_result(flow: str, outcome: CallOutcome) -> str:
    """The verdict's word in RESULTS: keypad calls end verified, wrong_code or
    no_input once answered; the spoken and caller-ID calls answered or (caller
    ID) rang, their code delivered; calls that reached no one by `call_reason`."""
    if outcome.failure in NOT_CALLED:
        return outcome.failure
    if outcome.matched:
        return "verified"
    keypad = flow_label(flow) == "reverse_verify"
    if outcome.answered:
        if not keypad:
            return "answered"
        return "wrong_code" if outcome.digits_count else "no_input"
    if flow_label(flow) == "password_call" and outcome.ringing_at:
        return "rang"
    return call_reason(outcome)


def note_verdict(verification: Verification, outcome: CallOutcome,
                 now: float | None = None) -> None:
    """Count a verdict given, and observe its call's timings."""
    flow = flow_label(verification.flow)
    VERDICTS.labels(flow, verdict_result(verification.flow, outcome)).inc()
    if outcome.placed_at and verification.created_at:
        REQUEST_TO_INVITE.labels(flow).observe(
            max(outcome.placed_at - verification.created_at, 0.0))
    if outcome.last_digit_at:
        now = time.time() if now is None else now
        DIGIT_TO_VERDICT.labels(flow).observe(max(now - outcome.last_digit_at, 0.0))


def note_accept(flow: str, result: str) -> None:
    ACCEPTS.labels(flow_label(flow), result).inc()


def note_delivery_failed(kind: str) -> None:
    DELIVERY_ATTEMPTS_FAILED.labels(kind or "other").inc()


def note_delivery_given_up(kind: str) -> None:
    DELIVERIES_GIVEN_UP.labels(kind or "other").inc()


def share_between_processes(directory: str) -> None:
    """Keep every value made from now on in `directory` (prometheus-client's
    multiprocess mode), so forked processes' counts add up in one answer.

    prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is imported; the
    workers decide to share after that, so the choice it made is made again here.
    """
    os.environ[MULTIPROC_DIR] = directory
    values.ValueClass = values.get_value_class()


def shared_directory() -> str | None:
    """The directory the processes share their values in, or None (each its own)."""
    return os.environ.get(MULTIPROC_DIR) or None
