"""The bench's own arithmetic: percentiles, concurrency, the knee, the profile."""
from __future__ import annotations

from tests.bench.profile import summarize
from tests.bench.report import knee, knee_ratio
from tests.bench.stats import ms_summary, peak_overlap, percentile


def step(rate, failed=0, wrong=0):
    return {"rate": rate, "calls": 10, "failed": failed, "wrong": wrong}


def test_nearest_rank_percentiles_never_invent_values():
    values = list(range(1, 31))
    assert percentile(values, 50) == 15
    assert percentile(values, 99) == 30
    assert percentile([], 99) is None
    assert ms_summary([0.010, 0.020]) == {"n": 2, "p50": 10.0, "p99": 20.0, "max": 20.0}


def test_peak_overlap_counts_calls_up_at_once():
    assert peak_overlap([(0, 10), (1, 2), (3, 4), (3.5, 5)]) == 3
    assert peak_overlap([(0, 1), (1, 2)]) == 1  # one ends as the next starts


def test_knee_is_the_last_clean_rate_before_the_first_failure():
    assert knee([step(5), step(10), step(20, failed=1), step(30)]) == {"rate": 10, "reached": True}
    assert knee([step(5), step(10)]) == {"rate": 10, "reached": False}
    assert knee([step(5, wrong=1)]) == {"rate": None, "reached": True}


def test_knee_ratio_says_when_it_is_only_a_bound():
    assert knee_ratio({"rate": 20, "reached": True}, {"rate": 40, "reached": False}) == \
        {"ratio": 0.5, "ratio_bound": "<="}
    assert knee_ratio({"rate": 20, "reached": True}, {"rate": 40, "reached": True})["ratio_bound"] \
        == "exact"


def test_profile_summary_leaves_out_the_idle_loop(tmp_path):
    raw = tmp_path / "p.raw"
    raw.write_text(
        "run (api/service.py:1);Engine._call (engine/worker.py:2);"
        "AriRest.request (engine/ari/rest.py:3);write (asyncio/selector_events.py:4) 3\n"
        "run (api/service.py:1);EpollSelector.select (selectors.py:5) 5\n"
        "run (api/service.py:1);execute (redis/asyncio/client.py:6) 1\n")
    summary = summarize(raw)
    assert summary["samples"] == 4 and summary["idle_samples"] == 5
    assert summary["owner_self_pct"][0] == ["asyncio", 75.0]
    assert ["AriRest.request (engine/ari/rest.py)", 75.0] in summary["callverify_inclusive_pct"]


def test_cpu_window_counts_children_only_when_asked():
    import os
    import subprocess
    import sys
    import time

    from tests.bench.cpu import CpuWindow

    me = {"me": os.getpid()}
    own, family = CpuWindow(me).start(), CpuWindow(me, children=True).start()
    busy = subprocess.Popen([sys.executable, "-c",
                             "import time\nt = time.process_time()\n"
                             "while time.process_time() - t < 0.4: pass\ntime.sleep(2)"])
    try:
        time.sleep(1.0)  # the child has burnt its 0.4 s and sleeps, still alive
        own.stop(), family.stop()
    finally:
        busy.kill()
        busy.wait()
    assert family.used_ms["me"] - own.used_ms["me"] >= 300


def test_cpu_window_sees_tasks_waiting_for_a_cpu():
    import os
    import subprocess
    import sys
    import time

    from tests.bench.cpu import CpuWindow, cpu_pressure_us

    # Two more busy processes than CPUs: some runnable task waits all along,
    # and each spinner waits for a CPU about a third of the time or more.
    spinners = [subprocess.Popen([sys.executable, "-c",
                                  "import time\nt = time.monotonic()\n"
                                  "while time.monotonic() - t < 1.5: pass"])
                for _ in range(len(os.sched_getaffinity(0)) + 2)]
    time.sleep(0.2)
    window = CpuWindow({"spinner": spinners[0].pid}).start()
    time.sleep(1.0)
    window.stop()
    for spinner in spinners:
        spinner.wait(30)
    assert window.waited_ms["spinner"] > 150
    assert window.used_ms["spinner"] + window.waited_ms["spinner"] > 700
    if cpu_pressure_us() is None:  # a kernel without PSI: the bench says "-"
        assert window.cpu_waiting is None
    else:
        assert 0.3 < window.cpu_waiting <= 1.05


def sweep(plan, capacity):
    """Run a RatePlan against a system that passes every rate up to `capacity`."""
    while (rate := plan.next_rate()) is not None:
        plan.record(rate, rate <= capacity)
    return plan.tried


def test_rate_plan_climbs_until_a_failure_then_bisects_towards_the_knee():
    from tests.bench.rates import RatePlan

    coarse = [10.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert sweep(RatePlan(coarse), capacity=47) == [10, 20, 40, 60, 50, 45]
    assert sweep(RatePlan(coarse, refinements=0), capacity=47) == [10, 20, 40, 60]
    # A knee above the top rate: every coarse rate, nothing to bisect.
    assert sweep(RatePlan(coarse), capacity=500) == coarse
    # Failing the first rate: no knee, nothing below it to try.
    assert sweep(RatePlan(coarse), capacity=5) == [10]
    # Bisection stops when no multiple of the grain is left in between.
    assert sweep(RatePlan([10.0, 15.0, 20.0]), capacity=17) == [10, 15, 20]


class FakeAsterisk:
    """Channels that go away after `polls` looks, or never; hang_up_all ends them."""

    def __init__(self, polls: int | None) -> None:
        self.polls, self.hung_up = polls, 0

    async def channels(self) -> list:
        if self.polls is None:
            return [{"id": "left"}]
        self.polls -= 1
        return [{"id": "going"}] if self.polls >= 0 else []

    async def hang_up_all(self) -> int:
        self.polls, self.hung_up = 0, self.hung_up + 1
        return 1


async def test_settle_waits_for_the_last_steps_calls_and_ends_what_stays(monkeypatch):
    from tests.bench import steps

    monkeypatch.setattr(steps, "SETTLE_S", 5.0)
    going = FakeAsterisk(polls=1)  # one look with a channel, then none
    settled = await steps.settle(going, None)
    assert settled["hung_up_channels"] == 0 and going.hung_up == 0
    assert 0.4 <= settled["settle_s"] < 2.0
    monkeypatch.setattr(steps, "SETTLE_S", 1.0)
    stuck = FakeAsterisk(polls=None)
    settled = await steps.settle(stuck, None)
    assert stuck.hung_up == 1 and settled["hung_up_channels"] == 1
    assert settled["dropped_jobs"] == 0


def test_setup_times_split_each_calls_wait_between_the_engine_and_asterisk(clean_redis):
    import redis

    from engine.keys import verification_key
    from tests.bench.steps import setup_times

    client = redis.Redis.from_url(clean_redis)
    client.hset(verification_key("old"), mapping={  # an earlier step's call: left out
        "created_at": "90.0", "outcome_placed_at": "99.0", "outcome_ringing_at": "99.5"})
    client.hset(verification_key("a"), mapping={
        "created_at": "100.000", "outcome_placed_at": "100.004", "outcome_ringing_at": "100.010"})
    client.hset(verification_key("b"), mapping={  # never rang
        "created_at": "100.100", "outcome_placed_at": "100.900", "outcome_ringing_at": ""})
    client.hset(verification_key("c"), mapping={"created_at": "100.2"})  # not taken yet
    client.close()
    times = setup_times(clean_redis, since=100.0)
    assert times["accepted_to_originate_ms"]["n"] == 2
    assert times["accepted_to_originate_ms"]["max"] == 800.0
    assert times["originate_to_ringing_ms"] == {"n": 1, "p50": 6.0, "p99": 6.0, "max": 6.0}


def test_front_door_reads_each_system_at_its_best_connection_count():
    from tests.bench.frontdoor import peak

    def run(rate, connections):
        return {"accepted_per_s": rate, "connections": connections}
    found = peak({"32": {"callverify": run(100, 32), "minimal": run(400, 32)},
                  "128": {"callverify": run(150, 128), "minimal": run(390, 128)}})
    assert found["callverify"]["connections"] == 128 and found["minimal"]["connections"] == 32
    assert found["ratio"] == 0.375  # 150 / 400: best against best
    assert found["by_connections"]["32"]["ratio"] == 0.25
    assert found["by_connections"]["128"]["ratio"] == round(150 / 390, 3)
    assert "ratio_v1" not in found  # /v1 not run: no pair, no ratio
    both = peak({"32": {"callverify": run(100, 32), "minimal": run(400, 32),
                        "callverify_v1": run(80, 32), "minimal_v1": run(320, 32)}})
    assert both["ratio"] == 0.25 and both["ratio_v1"] == 0.25
    assert both["by_connections"]["32"]["ratio_v1"] == 0.25


def test_each_front_door_run_starts_from_the_database_as_set_up(clean_redis):
    import redis

    from tests.bench.frontdoor import FreshDatabase

    client = redis.Redis.from_url(clean_redis)
    client.hset("cv:account:100000", mapping={"credits": "10", "name": "bench"})
    client.set("cv:apikey:abc", "100000")
    fresh = FreshDatabase(clean_redis)
    client.hincrby("cv:account:100000", "credits", -3)  # a run charges and queues
    client.hset("cv:verification:x", mapping={"status": "queued"})
    client.xadd("cv:calls", {"verification_id": "x"})
    fresh.restore()
    assert sorted(client.keys()) == [b"cv:account:100000", b"cv:apikey:abc"]
    assert client.hgetall("cv:account:100000") == {b"credits": b"10", b"name": b"bench"}
    fresh.close()
    client.close()


def test_the_overload_summary_counts_each_fate_of_a_call():
    from tests.bench.overload import summary
    from tests.bench.systems import Attempt

    def attempt(number, response="0", verdict="", sent=100.0, at=0.0, reason=""):
        return Attempt(number, sent=sent, response=response, verdict=verdict, verdict_at=at,
                       reason=reason, ended=True)

    attempts = [attempt("1", verdict="match", at=101.0), attempt("2", verdict="match", at=102.0),
                attempt("7", verdict="match", at=103.0),
                attempt("3", verdict="nomatch", at=102.0), attempt("4", response="HTTP 503"),
                attempt("5", verdict="unanswered", at=160.0, reason="0"), attempt("6")]
    got = summary({"label": "x", "rate": 30}, attempts, {"1", "2", "3", "7"}, knee=2.0)
    # three verdicts, one a second apart: 1 a second while they arrive; counted
    # from the first request (100.0), three in three seconds
    assert got == {"label": "x", "rate": 30, "offered": 7, "accepted": 6,
                   "refused": {"HTTP 503": 1}, "dialled": 4, "matched": 3, "wrong": 1,
                   "not_dialled_ended": 1, "no_verdict": 1, "verified_per_s": 1.0,
                   "verified_rate_over_knee": 0.5, "verified_per_s_from_first_request": 1.0,
                   "verified_rate_over_sustained_knee": None}
    held = summary({"label": "x", "rate": 30}, attempts, {"1", "2", "3", "7"}, knee=2.0,
                   sustained=0.8)
    assert held["verified_rate_over_sustained_knee"] == 1.25
