"""CPU time of a process and of the whole machine, from /proc."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_ms(pid: int) -> float:
    """User + system CPU of every thread of `pid`, in ms (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            raw = fh.read()
    except OSError:
        return 0.0
    # The command name may hold spaces: the fields start after its ")".
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICK


def main_thread_wait_ms(pid: int) -> float:
    """How long the main thread of `pid` (a service's event loop) was runnable but
    waiting for a CPU, in ms since it started (the scheduler's schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return 0.0


def family_cpu_ms(pid: int) -> float:
    """CPU of `pid` and of its children (e.g. `callverify api --workers N`)."""
    total = process_cpu_ms(pid)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        children = []
    return total + sum(process_cpu_ms(child) for child in children)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def cpu_pressure_us() -> int | None:
    """Time (µs, since boot) in which some runnable task waited for a CPU: the
    kernel's pressure stall information. None where the kernel has no PSI."""
    try:
        with open("/proc/pressure/cpu") as fh:
            return int(fh.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class CpuWindow:
    """CPU used by some processes (and the machine) between start() and stop()."""

    pids: dict[str, int]
    children: bool = False  # count each process's children too (API workers)
    started: dict | None = None
    used_ms: dict | None = None
    wall_s: float = 0.0
    machine_busy: float = 0.0
    cpu_waiting: float | None = None  # share of the window some task waited for a CPU
    waited_ms: dict | None = None  # per process: its main thread runnable, not running

    def _cpu_ms(self, pid: int) -> float:
        return family_cpu_ms(pid) if self.children else process_cpu_ms(pid)

    def start(self) -> CpuWindow:
        self.started = {name: self._cpu_ms(pid) for name, pid in self.pids.items()}
        self._waited = {name: main_thread_wait_ms(pid) for name, pid in self.pids.items()}
        self._machine = machine_ticks()
        self._pressure = cpu_pressure_us()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> CpuWindow:
        assert self.started is not None
        self.used_ms = {name: round(self._cpu_ms(pid) - self.started[name], 1)
                        for name, pid in self.pids.items()}
        self.waited_ms = {name: round(main_thread_wait_ms(pid) - self._waited[name], 1)
                          for name, pid in self.pids.items()}
        busy, total = machine_ticks()
        self.wall_s = time.monotonic() - self._t0
        dt = total - self._machine[1]
        self.machine_busy = (busy - self._machine[0]) / dt if dt else 0.0
        pressure = cpu_pressure_us()
        if pressure is not None and self._pressure is not None and self.wall_s:
            self.cpu_waiting = (pressure - self._pressure) / 1e6 / self.wall_s
        return self
