"""`make bench`: python -m tests.bench [--rates 5,10,20,30,40,50,60] [--out FILE]

Starts the bench Asterisk instance, a redis-server and `callverify run`, then
sweeps both systems (callverify through its API, the same call in plain
dialplan) over the rates, holds ~150 calls at once, profiles the service, and
measures the front door alone against a minimal aiohttp handler.  Prints the
table, writes tests/bench/results/<date>.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import frontdoor, overload, profile, report, stack
from tests.bench.cpu import CpuWindow
from tests.bench.rates import RatePlan
from tests.bench.steps import Numbers, run_step, wait_idle
from tests.bench.systems import CallbackSink, CallverifyApi, DialplanBaseline

RESULTS = Path(__file__).resolve().parent / "results"
RESERVE_S = 300  # what the steps after the sweep need (hold, overload, profile, front door)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.split("\n")[0])
    p.add_argument("--rates", default="10,20,40,60,80,100,130,160,200",
                   help="the sweep's coarse rates, calls per second: each system climbs "
                        "them until one fails")
    p.add_argument("--refine", type=int, default=2,
                   help="steps bisecting between a system's last clean and first failed rate")
    p.add_argument("--step-seconds", type=float, default=8.0, help="offered load per step")
    p.add_argument("--min-calls", type=int, default=30, help="calls per step at least")
    p.add_argument("--hold-calls", type=int, default=150, help="calls for the concurrency hold")
    p.add_argument("--fd-seconds", type=int, default=5, help="each front-door wrk run")
    p.add_argument("--fd-connections", default="32,128",
                   help="wrk connection counts; each system is read at its best of them")
    p.add_argument("--no-profile", action="store_true", help="skip the py-spy steps")
    p.add_argument("--service-nice", type=int, metavar="N", default=-10,
                   help="run callverify in a session of its own at CPU priority N, "
                        "as `make run` does (-10; root); 0 for the default priority")
    p.add_argument("--budget", type=float, default=720.0, help="seconds for the whole run")
    p.add_argument("--out", type=Path, help="JSON file (default results/<date>.json)")
    return p.parse_args(argv)


def with_net_cpu(step: dict, idle: dict) -> dict:
    """Take each process's idle use over the step off its CPU (per call figures)."""
    used, wall = step["cpu_ms"], step["wall_s"]
    net = {k: max(0.0, used[k] - idle.get(k, 0.0) * wall) for k in used}
    step["cpu_ms_net"] = {k: round(v, 1) for k, v in net.items()}
    if step["completed"] and step["system"] == "callverify" and "service" in net:
        step["service_cpu_ms_per_verification_net"] = round(net["service"] / step["completed"], 2)
    step["asterisk_cpu_ms_per_call_net"] = round(net["asterisk"] / step["calls"], 2)
    return step


class Guarded:
    """Runs callverify steps, restarting `callverify run` if something outside the
    bench ended it (the step it died in is run again once, and counted)."""

    def __init__(self, svc, api, pids: dict, log) -> None:
        self.svc, self.api, self.pids, self.log = svc, api, pids, log
        self.restarts: list[str] = []

    async def _revive(self, why: str) -> None:
        self.restarts.append(f"{why} (exit {self.svc.proc.returncode})")
        print(f"  callverify run exited ({why}); restarting it", flush=True)
        await asyncio.to_thread(self.svc.start)
        self.pids["service"] = self.svc.pid
        await self.api.close()  # its keep-alive connections went with the process
        await self.api.open()

    async def step(self, system, *args, **kwargs) -> dict:
        for attempt in range(2):
            if system is self.api and self.svc.proc.poll() is not None:
                await self._revive("before a step")
            numbers = args[1] if attempt == 0 else [f"1556{n[4:]}" for n in args[1]]
            result = await run_step(system, args[0], numbers, self.pids, *args[2:], **kwargs)
            if system is not self.api or self.svc.proc.poll() is None:
                return result
            await self._revive(f"during {result['label']}")
            result["service_exited"] = True
        return result


async def sweep_and_hold(args, state, guard: Guarded, base, idle, t_start, log) -> dict:
    numbers = Numbers()
    api, svc = guard.api, guard.svc
    redis_url = svc.env["CALLVERIFY_REDIS_URL"]
    await guard.step(api, 2, numbers.take(4), base, label="warm-up callverify")
    await guard.step(base, 2, numbers.take(4), base, label="warm-up dialplan")
    steps, skipped = [], []
    coarse = [float(r) for r in args.rates.split(",")]
    plans = {system: RatePlan(coarse, refinements=args.refine) for system in (api, base)}
    while plans:
        for system, plan in list(plans.items()):
            rate = plan.next_rate()
            if rate is None:
                del plans[system]
                continue
            count = max(args.min_calls, round(rate * args.step_seconds))
            if time.monotonic() - t_start + count / rate + 25 > args.budget - RESERVE_S:
                skipped.append(f"{system.name} {rate:g}/s")
                del plans[system]
                continue
            step = with_net_cpu(await guard.step(system, rate, numbers.take(count), base,
                                                 redis_url=redis_url), idle)
            log(step)
            steps.append(step)
            plan.record(rate, report.passed(step))
    # Concurrency: keys come after the whole enter-code prompt, so calls last ~16 s.
    hold = with_net_cpu(await guard.step(api, 10, numbers.take(args.hold_calls), base,
                                         delay_ms=9000, label="callverify hold 10/s",
                                         redis_url=redis_url), idle)
    log(hold)
    overloaded = await overload_steps(guard, api, base, steps, numbers, redis_url, idle, log)
    prof = {}
    if not args.no_profile and profile.py_spy():
        n, rate = 120, report.REFERENCE_RATE
        if svc.proc.poll() is not None:
            await guard._revive("before the profile")
        raw = Path(tempfile.mkdtemp(prefix="cvbench-prof-")) / "engine.raw"
        spy = profile.start_record(svc.pid, (n - 1) / rate + 6, raw)
        await asyncio.sleep(0.5)
        profiled = await run_step(api, rate, numbers.take(n), guard.pids, base,
                                  label=f"callverify {rate}/s under py-spy", redis_url=redis_url)
        prof["callverify run (engine step)"] = {
            **profile.finish(spy, raw, 30), "step": {k: profiled[k] for k in (
                "calls", "completed", "failed", "wrong")}}
    return {"steps": steps, "hold": hold, "skipped": skipped, "profiles": prof,
            "numbers": numbers, "overload": overloaded}


async def overload_steps(guard: Guarded, api, base, steps, numbers, redis_url, idle,
                         log) -> list[dict]:
    """callverify at its knee, 1.5x and 2x it (tests/bench/overload.py)."""
    knee = report.knee([s for s in steps if s["system"] == "callverify"])["rate"]
    out: list[dict] = []
    sustained = None
    for factor in overload.FACTORS if knee else ():
        rate, kept = knee * factor, {}
        step = with_net_cpu(await guard.step(
            api, rate, numbers.take(round(rate * overload.SECONDS)), base,
            label=f"callverify overload {factor:g}x", redis_url=redis_url, keep=kept), idle)
        log(step)
        out.append(overload.summary(step, kept["attempts"], kept["invited"], knee, sustained))
        sustained = sustained or out[-1]["verified_per_s"] or None
        print(f"    {out[-1]}", flush=True)
    return out


async def split_step(svc, api, base, state, pids, workdir, numbers, log) -> dict:
    """The service as three processes (api, engine, deliver) for one step at 20/s,
    so each part's CPU per verification is read on its own."""
    svc.stop()
    parts = {}
    try:
        for command in ("api", "engine", "deliver"):
            env = dict(svc.env, CALLVERIFY_API_LISTEN=f"127.0.0.1:{stack.free_port()}",
                       CALLVERIFY_METRICS_LISTEN=f"127.0.0.1:{stack.free_port()}")
            parts[command] = stack.Service(command, env, workdir / f"{command}.log",
                                            nice=svc.nice).start()
        front = CallverifyApi(parts["api"].base, api.api_key, api.sink)
        await front.open()
        pids = {name: part.pid for name, part in parts.items()} | {
            k: v for k, v in pids.items() if k in ("asterisk", "redis", "bench")}
        rate = report.REFERENCE_RATE
        try:
            step = await run_step(front, rate, numbers.take(round(rate * 6)), pids, base,
                                  label=f"callverify split {rate}/s",
                                  redis_url=svc.env["CALLVERIFY_REDIS_URL"])
        finally:
            await front.close()
        log(step)
    finally:
        for part in parts.values():
            part.stop()
    done = step["completed"] or 1
    step["cpu_ms_per_verification"] = {name: round(step["cpu_ms"][name] / done, 2)
                                       for name in parts}
    return step


def front_door(args, redis: stack.RedisServer, state: dict, workdir: Path) -> tuple[dict, dict]:
    """`callverify api` alone (db 1, no engine anywhere) and the minimal handler,
    each as one process and as one worker per CPU (`--workers`, SO_REUSEPORT),
    each loaded with every connection count of --fd-connections.

    A server's throughput is read where it peaks: each system at its best
    connection count (frontdoor.peak); every count's runs are kept. The goals
    read the run with the most workers.
    """
    env = stack.service_env(redis.url(1), state, f"127.0.0.1:{stack.free_port()}")
    key = stack.create_account(env, 10_000_000)
    token = stack.create_account(env, 10_000_000, "token")
    frontdoor.stand_in_engine(redis.url(1))
    fresh = frontdoor.FreshDatabase(redis.url(1))
    levels = [int(c) for c in str(args.fd_connections).split(",")]
    out: dict = {"by_workers": {}}
    prof: dict = {}
    for workers in sorted({1, len(os.sched_getaffinity(0))}):
        env["CALLVERIFY_API_LISTEN"] = f"127.0.0.1:{stack.free_port()}"
        api = stack.Service("api", env, workdir / "api.log",
                            args=("--workers", str(workers))).start()
        minimal, mport = stack.start_minimal(workdir, workers)
        by_connections: dict = {}
        try:
            minimal_base = f"http://127.0.0.1:{mport}"
            seed, v1 = ("/api/reverse_verify/", key, frontdoor.LUA), (
                "/v1/verifications", token, frontdoor.V1_LUA)
            targets = {"minimal": (minimal_base, minimal.pid, seed),
                       "callverify": (api.base, api.pid, seed),
                       "minimal_v1": (minimal_base, minimal.pid, v1),
                       "callverify_v1": (api.base, api.pid, v1)}
            plan = [("warm-up", 2, levels[0])] + [("measured", args.fd_seconds, c) for c in levels]
            for phase, seconds, connections in plan:
                for name, (base, pid, (path, credential, script)) in targets.items():
                    if name.startswith("callverify"):
                        fresh.restore()
                    result = frontdoor.run_wrk(base + path, api_key=credential,
                                               callback_url="http://127.0.0.1:9/cb",
                                               first_number=0, seconds=seconds,
                                               connections=connections, pid=pid,
                                               script=script)
                    if phase == "measured":
                        by_connections.setdefault(str(connections), {})[name] = result
            if workers == 1 and not args.no_profile and profile.py_spy():
                fresh.restore()
                prof = profile_front_door(args, api, key, levels[0], workdir)
        finally:
            stack.stop_process(minimal)
            api.stop()
        runs = frontdoor.peak(by_connections)
        out["by_workers"][str(workers)] = runs
        out.update(runs, workers=workers)
    fresh.close()
    return out, prof


def profile_front_door(args, api: stack.Service, key: str, connections: int,
                       workdir: Path) -> dict:
    raw = workdir / "frontdoor.raw"
    spy = profile.start_record(api.pid, args.fd_seconds, raw)
    time.sleep(0.3)
    profiled = frontdoor.run_wrk(f"{api.base}/api/reverse_verify/", api_key=key,
                                 callback_url="http://127.0.0.1:9/cb", first_number=0,
                                 seconds=args.fd_seconds, connections=connections,
                                 pid=api.pid)
    return {"callverify api (front door)": {
        **profile.finish(spy, raw, 20), "accepted_per_s_under_py_spy": profiled["accepted_per_s"]}}


def meta(state: dict) -> dict:
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""
    asterisk = run([*stack.SANDBOX, "cli", "--instance", stack.INSTANCE, "core show version"])
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "asterisk": " ".join(asterisk.split()[:2]) or "?",
            "sipp": next((line.strip().rstrip(".") for line in run(["sipp", "-v"]).splitlines()
                          if "SIPp v" in line), "?"),
            "commit": run(["git", "-C", str(stack.ROOT), "rev-parse", "--short", "HEAD"]).strip(),
            "sandbox_instance": stack.INSTANCE, "phone_port": stack.PHONE_PORT}


async def run(args) -> dict:
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="cvbench-"))
    log = lambda s: print(f"  {s['label']:>28}: {s['completed']}/{s['calls']} ok, "  # noqa: E731
                          f"{s['failed']} failed ({s['late']} late), {s['wrong']} wrong, "
                          f"peak {s['peak_concurrent']}, {s['wall_s']:.0f} s", flush=True)
    sandbox, redis = stack.Sandbox(), stack.RedisServer(workdir)
    svc = None
    print(f"bench: logs in {workdir}", flush=True)
    try:
        state = sandbox.start()
        redis.start()
        env = stack.service_env(redis.url(0), state, f"127.0.0.1:{stack.free_port()}")
        svc = stack.Service("run", env, workdir / "service.log", nice=args.service_nice).start()
        api_key = stack.create_account(env, 1_000_000)
        sink = CallbackSink(stack.free_port())
        await sink.start()
        api, base = CallverifyApi(svc.base, api_key, sink), DialplanBaseline(state)
        await api.open()
        await base.open()
        pids = {"service": svc.pid, "asterisk": state["pid"], "redis": redis.proc.pid,
                "bench": os.getpid()}
        await wait_idle(base)
        idle_window = CpuWindow(pids).start()
        await asyncio.sleep(5)
        idle_window.stop()
        idle = {k: v / idle_window.wall_s for k, v in idle_window.used_ms.items()}
        try:
            guard = Guarded(svc, api, pids, log)
            sweep = await sweep_and_hold(args, state, guard, base, idle, t_start, log)
            split = await split_step(svc, api, base, state, pids, workdir, sweep["numbers"],
                                     log)
        finally:
            await api.close()
            await base.close()
            await sink.stop()
            svc.stop()
        print("  front door ...", flush=True)
        fd, fd_prof = await asyncio.to_thread(front_door, args, redis, state, workdir)
        results = {"meta": meta(state), "idle_cpu_ms_per_s": {k: round(v, 2) for k, v in idle.items()},
                   "settings": vars(args) | {"out": str(args.out or "")}}
    finally:
        if svc is not None:
            svc.stop()
        redis.stop()
        sandbox.stop()
    steps = sweep["steps"]
    by = {name: [s for s in steps if s["system"] == name] for name in ("callverify", "dialplan")}
    knees = {name: report.knee(s) for name, s in by.items()}
    knees.update(report.knee_ratio(knees["callverify"], knees["dialplan"]))
    results.update(steps=steps, skipped=sweep["skipped"], knee=knees,
                   reference=report.reference(by["callverify"]),
                   dialplan_reference=report.reference(by["dialplan"]),
                   concurrency=sweep["hold"], overload=sweep["overload"], split=split,
                   front_door=fd,
                   service_restarts=guard.restarts,
                   profiles={**sweep["profiles"], **fd_prof},
                   duration_s=round(time.monotonic() - t_start, 1), workdir=str(workdir))
    results["goals"] = report.goals(results)
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    if not frontdoor.wrk_available():
        print("bench: wrk is not installed (make bench installs Debian's wrk)", file=sys.stderr)
        return 1
    results = asyncio.run(run(args))
    out = args.out or RESULTS / f"{results['meta']['date'][:10]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(report.table(results))
    print(f"bench: {results['duration_s']:.0f} s; results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
