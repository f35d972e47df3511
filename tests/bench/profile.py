"""Where a callverify process spends its CPU: py-spy (from PyPI) samples it for
a few seconds while the bench loads it, and the collapsed stacks are summed
into self time per function, inclusive time per function, and self time per
owner (our engine/api code, aiohttp, redis-py, asyncio, logging ...).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]+?)(?::(?P<line>\d+))?\)$")
OWNERS = {  # first directory of the frame's file (py-spy prints it relative to sys.path)
    "engine": "callverify engine", "api": "callverify api", "aiohttp": "aiohttp",
    "yarl": "yarl/multidict", "multidict": "yarl/multidict", "redis": "redis-py",
    "phonenumbers": "phonenumbers", "asyncio": "asyncio", "logging": "logging",
    "json": "json", "encodings": "stdlib (other)", "re": "stdlib (other)",
}
OUR_DIRS = ("engine/", "api/")
ROOT_FILES = ("api/cli.py", "api/service.py")  # start-up frames under every sample
IDLE_LEAVES = ("EpollSelector.select (", "select (selectors.py)")


def py_spy() -> str | None:
    found = Path(sys.executable).parent / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


def start_record(pid: int, seconds: float, out: Path, rate: int = 200,
                 nonblocking: bool = True) -> subprocess.Popen:
    """Sample `pid` for `seconds` in the background (non-blocking: the target never
    pauses, but a sample may catch a stack half-built)."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed (make bench installs it from PyPI)")
    return subprocess.Popen([tool, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                             "--rate", str(rate), "--format", "raw", "--output", str(out),
                             *(["--nonblocking"] if nonblocking else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def owner(path: str) -> str:
    head = path.split("/", 1)[0] if "/" in path else ""
    return OWNERS.get(head, head or "stdlib (other)")


def _frame(text: str) -> tuple[str, str]:
    m = FRAME.match(text.strip())
    if not m:
        return text.strip(), ""
    path = re.sub(r"^.*?/(site-packages|python3\.\d+)/", "", m.group("file"))
    return f"{m.group('func')} ({path})", path


def summarize(raw: Path, top: int = 12) -> dict:
    """Shares of the busy samples: per function (self and inclusive), per owner,
    and per callverify function on the stack (inclusive: what our code caused,
    start-up frames left out).

    A sample whose leaf is the event loop's epoll wait is idle, not busy.
    """
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    owners: Counter = Counter()
    ours: Counter = Counter()
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        name, path = frames[-1]
        if name.startswith(IDLE_LEAVES):
            idle += n
            continue
        total += n
        self_time[name] += n
        owners[owner(path)] += n
        for seen in {f[0] for f in frames}:
            inclusive[seen] += n
        mine = [f[0] for f in frames if f[1].startswith(OUR_DIRS) and f[1] not in ROOT_FILES]
        for seen in set(mine):
            ours[seen] += n
    if not total:
        return {"samples": 0, "idle_samples": idle}

    def shares(counter: Counter) -> list:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]
    return {"samples": total, "idle_samples": idle, "self_pct": shares(self_time),
            "inclusive_pct": shares(inclusive), "owner_self_pct": shares(owners),
            "callverify_inclusive_pct": shares(ours)}


def finish(proc: subprocess.Popen, raw: Path, timeout: float) -> dict:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if not raw.exists():
        return {"samples": 0, "error": (err or b"").decode(errors="replace")[-300:]}
    return summarize(raw)
