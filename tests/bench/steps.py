"""One load step: `count` calls at `rate` calls/s against one system, with a
sipp phone answering every call and keying the code, then the figures.
"""
from __future__ import annotations

import asyncio
import os
import resource
import time

import redis

from engine.keys import CALLS_STREAM, verification_key
from tests.bench.cpu import CpuWindow
from tests.bench.stack import PHONE_PORT
from tests.bench.stats import ms_summary, peak_overlap
from tests.bench.systems import CODE, Attempt
from tests.phones.phone import SipPhone

CALL_TAIL_S = 30.0      # after the last request: ring + prompts + a slow verdict
PHONE_TAIL_S = 15.0     # after the last verdict: closing prompt and BYE
# Room in a step's phone for SIP leftovers of the step before: after an overloaded
# step, Asterisk still retransmits INVITEs and BYEs to the phone port for up to 32 s
# (RFC 3261's timers B and F). sipp takes each as a call of its -m count, which
# then ran out before the step's own last calls (1-3 unanswered in the hold step).
STRAY_CALLS = 50
# RFC 7502 counts a session attempt not set up within the establishment
# threshold time as failed; here: the INVITE must reach the phone within this
# long of the request, or the verification counts as failed even if it matched.
ESTABLISH_S = 1.0
# Before a step, how long the last one's calls may take to go; then they are dropped.
SETTLE_S = 60.0


class Numbers:
    """E.164 numbers 1555xxxxxxx, never the same twice in a run (60 s flood rule)."""

    def __init__(self, first: int = 1) -> None:
        self.next = first

    def take(self, count: int) -> list[str]:
        out = [f"1555{n:07d}" for n in range(self.next, self.next + count)]
        self.next += count
        return out


async def wait_idle(system, timeout: float = 20.0) -> int:
    """Wait until Asterisk holds no channel; returns how many were left."""
    deadline = time.monotonic() + timeout
    while True:
        left = len(await system.channels())
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


def queued_jobs(redis_url: str | None) -> int:
    """Verifications accepted but not yet finished by the engine (its stream's length:
    a job leaves it when acknowledged)."""
    if not redis_url:
        return 0
    with redis.Redis.from_url(redis_url) as client:
        return client.xlen(CALLS_STREAM)


def drop_jobs(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.xtrim(CALLS_STREAM, maxlen=0, approximate=False)


async def settle(channels, redis_url: str | None) -> dict:
    """Wait until the last step's calls are gone: no channel on Asterisk and no job
    in callverify's queue. An overloaded step leaves a backlog that would otherwise
    be dialled into the next step's phone, whose call count it would use up. Past
    SETTLE_S the backlog is dropped and the channels left are hung up."""
    t0 = time.monotonic()
    while True:
        left, queued = len(await channels.channels()), queued_jobs(redis_url)
        if not left and not queued:
            return {"settle_s": round(time.monotonic() - t0, 1), "dropped_jobs": 0,
                    "hung_up_channels": 0}
        if time.monotonic() - t0 > SETTLE_S:
            break
        await asyncio.sleep(0.5)
    if queued:
        drop_jobs(redis_url)
    hung_up = await channels.hang_up_all()
    await wait_idle(channels)
    return {"settle_s": round(time.monotonic() - t0, 1), "dropped_jobs": queued,
            "hung_up_channels": hung_up}


def setup_times(redis_url: str, since: float) -> dict:
    """Where callverify's calls accepted since `since` (epoch seconds) spent their
    set-up: accepted -> originate sent (API, queue, engine) and originate sent ->
    Asterisk reporting the phone ringing, from the verification records."""
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        pipe = client.pipeline(transaction=False)
        for key in client.scan_iter(verification_key("*"), count=1000):
            pipe.hmget(key, "created_at", "outcome_placed_at", "outcome_ringing_at")
        records = pipe.execute()
    taken, rung = [], []
    for created, placed, ringing in records:
        if not created or not placed or float(created) < since:
            continue
        taken.append(float(placed) - float(created))
        if ringing:
            rung.append(float(ringing) - float(placed))
    return {"accepted_to_originate_ms": ms_summary(taken),
            "originate_to_ringing_ms": ms_summary(rung)}


def command_counts(redis_url: str | None) -> dict[str, int]:
    """Redis's own count of each command served (scripts' inner commands included),
    and under "aof_delayed_fsync" how often it held writes back for a slow disk."""
    if not redis_url:
        return {}
    with redis.Redis.from_url(redis_url) as client:
        counts = {k.removeprefix("cmdstat_"): v["calls"]
                  for k, v in client.info("commandstats").items()}
        counts["aof_delayed_fsync"] = client.info("persistence").get("aof_delayed_fsync", 0)
    return counts


def commands_per_call(before: dict, after: dict, calls: int) -> dict:
    diff = {k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)}
    diff.pop("info", None)
    delayed = diff.pop("aof_delayed_fsync", 0)
    top = sorted(diff.items(), key=lambda kv: -kv[1])[:8]
    return {"total": round(sum(diff.values()) / calls, 1) if calls else None,
            "top": {k: round(v / calls, 2) for k, v in top} if calls else {},
            "aof_delayed_fsync": delayed}


async def run_step(system, rate: float, numbers: list[str], pids: dict[str, int],
                   channels, *, delay_ms: int = 1000, label: str = "",
                   redis_url: str | None = None, keep: dict | None = None) -> dict:
    """Offer len(numbers) calls at `rate`/s (open loop) and measure them.

    `channels` is a DialplanBaseline (its ARI client lists Asterisk's channels);
    with `redis_url`, Redis's command counts per call are reported too. A
    `keep` dict gets the step's attempts and the numbers the phone was called on.
    """
    count = len(numbers)
    settled = await settle(channels, redis_url)
    phone = SipPhone("answer_dtmf", keys=CODE + "#", port=PHONE_PORT, calls=count + STRAY_CALLS,
                     delay_ms=delay_ms, extra_args=("-l", "10000"))
    await asyncio.to_thread(phone.start)
    # sipp is gone (reaped) when the step ends: its CPU comes from our children's usage.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    attempts = [Attempt(n) for n in numbers]
    await system.begin()
    commands = command_counts(redis_url)
    cpu = CpuWindow(pids).start()
    t0, started = time.monotonic(), time.time()
    tasks = []
    for i, attempt in enumerate(attempts):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(system.place(attempt)))
    offered_s = time.monotonic() - t0
    await asyncio.gather(*tasks)
    deadline = time.monotonic() + CALL_TAIL_S
    while not all(a.ended for a in attempts) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    # The phone never reaches its call count: the step is over when Asterisk is idle.
    left = await wait_idle(channels, PHONE_TAIL_S)
    cpu.stop()
    await system.end()
    await asyncio.to_thread(phone.stop)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu.used_ms["sipp"] = round(1000 * (after.ru_utime + after.ru_stime
                                        - children.ru_utime - children.ru_stime), 1)
    result = figures(system.name, rate, attempts, phone, cpu, offered_s)
    result["label"] = label or f"{system.name} {rate:g}/s"
    result["channels_left"] = left
    result["before"] = settled
    ours = {a.number for a in attempts}
    calls = {inv.call_id: inv.request_user for inv in phone.invites}
    result["stray_calls"] = sum(1 for user in calls.values() if user not in ours)
    if redis_url:
        result["redis_commands_per_call"] = commands_per_call(
            commands, command_counts(redis_url), len(numbers))
        if system.name == "callverify":
            result.update(setup_times(redis_url, started))
    if keep is not None:
        keep.update(attempts=attempts, invited={inv.request_user for inv in phone.invites})
    await asyncio.to_thread(phone.cleanup)
    return result


def figures(name: str, rate: float, attempts: list[Attempt], phone: SipPhone,
            cpu: CpuWindow, offered_s: float) -> dict:
    """Counts, latencies, concurrency and CPU of one step."""
    invites = {inv.request_user: inv for inv in phone.invites}
    number_of_call = {inv.call_id: inv.request_user for inv in invites.values()}
    events = phone.events
    started = {ev.call_id: ev.time for ev in events if ev.name == "INVITE"}
    ended = {ev.call_id: ev.time for ev in events if ev.name == "END"}
    played = {number_of_call.get(ev.call_id): ev.time for ev in events if ev.name == "PLAY"}
    last_key = phone.key_schedule[len(CODE) - 1]
    last_key_s = (last_key.offset_ms + last_key.tone_ms) / 1000  # end packet: Asterisk's digit
    step_end = time.time()

    late = {a.number for a in attempts
            if a.number in invites and invites[a.number].time - a.sent > ESTABLISH_S}
    completed = sum(a.verdict == "match" and a.number not in late for a in attempts)
    wrong = sum(a.verdict == "nomatch" for a in attempts)
    to_invite = [invites[a.number].time - a.sent for a in attempts if a.number in invites]
    answer_to_invite = [invites[a.number].time - a.answered_at for a in attempts
                        if a.number in invites and a.answered_at]
    to_verdict = [a.verdict_at - (played[a.number] + last_key_s) for a in attempts
                  if a.verdict in ("match", "nomatch") and a.number in played]
    used = cpu.used_ms or {}
    calls = len(attempts)
    return {
        "system": name, "rate": rate, "calls": calls,
        "offered_s": round(offered_s, 2),
        "achieved_rate": round((calls - 1) / offered_s, 2) if offered_s else None,
        "accepted": sum(a.accepted for a in attempts),
        "completed": completed, "wrong": wrong, "failed": calls - completed - wrong,
        "late": len(late), "establish_threshold_s": ESTABLISH_S,
        "refused": sorted({a.response for a in attempts if not a.accepted}),
        "unanswered": sum(a.verdict == "unanswered" for a in attempts),
        "no_verdict": sum(not a.verdict for a in attempts),
        "invites": len(invites),
        "peak_concurrent": peak_overlap((t, ended.get(cid, step_end))
                                        for cid, t in started.items()),
        "request_to_invite_ms": ms_summary(to_invite),
        "response_to_invite_ms": ms_summary(answer_to_invite),
        "last_digit_to_verdict_ms": ms_summary(to_verdict),
        "request_latency_ms": ms_summary(a.answered_at - a.sent for a in attempts if a.sent),
        "cpu_ms": used, "wall_s": round(cpu.wall_s, 2),
        "machine_busy": round(cpu.machine_busy, 3),
        "cpu_waiting": None if cpu.cpu_waiting is None else round(cpu.cpu_waiting, 3),
        # Share of the step the service's event loop was ready to run but had no CPU.
        "service_loop_waiting": round(cpu.waited_ms["service"] / 1000 / cpu.wall_s, 3)
        if name == "callverify" and "service" in (cpu.waited_ms or {}) and cpu.wall_s
        else None,
        "main_thread_wait_ms": cpu.waited_ms,
        # CPU of processes that are not part of the bench (other work on the machine)
        "other_cores": round(max(0.0, cpu.machine_busy * len(os.sched_getaffinity(0))
                                 - sum(used.values()) / 1000 / cpu.wall_s), 2)
        if cpu.wall_s else None,
        "service_cpu_ms_per_verification": round(used["service"] / completed, 2)
        if completed and name == "callverify" and "service" in used else None,
        "asterisk_cpu_ms_per_call": round(used["asterisk"] / calls, 2)
        if calls and "asterisk" in used else None,
        "sipp_cpu_ms_per_call": round(used["sipp"] / calls, 2) if calls else None,
    }
