"""Front-door throughput: accepted GET /api/reverse_verify/ per second with no
engine (`callverify api` alone, so no call is placed), beside a minimal aiohttp
handler measured in the same run.  The load comes from Debian's `wrk`.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import redis

from engine.keys import ENGINE_CAPACITY
from tests.bench.cpu import CpuWindow

LUA = Path(__file__).resolve().parent / "unique.lua"
V1_LUA = Path(__file__).resolve().parent / "v1.lua"
# The systems compared: (callverify's, the minimal handler's) for the seed's
# GET and for POST /v1/verifications.
PAIRS = (("callverify", "minimal"), ("callverify_v1", "minimal_v1"))
RESULT = re.compile(r"BENCH (.*)")


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def stand_in_engine(url: str) -> None:
    """With no engine anywhere the accept step queues no more than its floor
    (engine/backpressure.py): the front door's database gets the entry of an
    engine with room for anything, good for a day, so that the runs measure
    the accept step (its busy check included), not its refusals."""
    client = redis.Redis.from_url(url)
    now, _ = client.time()
    client.hset(ENGINE_CAPACITY, "bench-front-door", f"{now + 86400} 0 1000000000")
    client.close()


class FreshDatabase:
    """The front door's Redis database as it was after set-up (the account, the
    code key), brought back before each run: a run must not pay for the
    million verifications the runs before it queued and no engine took (a
    bigger keyspace and AOF rewrites cost Redis a fifth more a request)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url)
        self._saved = {key: self._redis.dump(key) for key in self._redis.scan_iter()}

    def restore(self) -> None:
        self._redis.flushdb()
        for key, value in self._saved.items():
            self._redis.restore(key, 0, value)

    def close(self) -> None:
        self._redis.close()


def run_wrk(url: str, *, api_key: str, callback_url: str, first_number: int,
            seconds: int, connections: int, pid: int | None = None,
            script: Path = LUA) -> dict:
    """One bounded wrk run (1 thread: the other core serves); accepted/s and latency.
    `api_key` is the credential `script` sends (the token for V1_LUA)."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
           "-s", str(script), url, "--", api_key, callback_url, str(first_number)]
    cpu = CpuWindow({"server": pid} if pid else {}, children=True).start()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    cpu.stop()
    found = RESULT.search(out.stdout)
    if out.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    values = {k: int(v) for k, v in (kv.split("=") for kv in found.group(1).split())}
    duration = values["duration_us"] / 1e6
    result = {
        "accepted": values["accepted"], "other": values["other"],
        "errors": values["errors"], "seconds": round(duration, 2),
        "accepted_per_s": round(values["accepted"] / duration, 1),
        "latency_ms": {"p50": values["p50_us"] / 1000, "p99": values["p99_us"] / 1000},
        "connections": connections, "machine_busy": round(cpu.machine_busy, 3),
    }
    if pid:
        served = values["accepted"] + values["other"]
        result["server_cpu_ms_per_request"] = (
            round(cpu.used_ms["server"] / served, 3) if served else None)
    return result


def peak(by_connections: dict[str, dict]) -> dict:
    """Each system's run at its best connection count, and each pair's ratio.

    `by_connections` maps a count to {"callverify": run, "minimal": run, ...}
    (the systems of PAIRS that ran); the answer has each system's best run,
    each pair's ratio ("ratio" for the seed's, "ratio_v1" for /v1), and every
    count's runs with the ratios at that count.
    """
    names = [n for pair in PAIRS for n in pair
             if all(n in runs for runs in by_connections.values())]
    pairs = [(mine, minimal) for mine, minimal in PAIRS if mine in names and minimal in names]

    def ratios(runs: dict) -> dict:
        return {_ratio_name(mine): _ratio(runs[mine], runs[minimal]) for mine, minimal in pairs}
    levels = {c: {**runs, **ratios(runs)} for c, runs in by_connections.items()}
    best = {name: max((runs[name] for runs in by_connections.values()),
                      key=lambda run: run["accepted_per_s"])
            for name in names}
    return {**best, **ratios(best), "by_connections": levels}


def _ratio_name(mine: str) -> str:
    return "ratio" + mine.removeprefix("callverify")


def _ratio(callverify: dict, minimal: dict) -> float | None:
    mini = minimal["accepted_per_s"]
    return round(callverify["accepted_per_s"] / mini, 3) if mini else None
