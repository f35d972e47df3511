"""The service's CPU priority beside Asterisk (CALLVERIFY_CPU_NICE).

`callverify run` is one event loop serving every call's set-up and verdict;
Asterisk runs a thread per call. When they contend for the CPUs the scheduler
shares them out per thread, so under load the service's one loop waits for a
CPU with work ready, and every API answer and originate waits behind it. A
higher priority lets the loop run when it has work (the bench's "loop wait"
column shows the difference; docs/benchmark.md). `make run` starts the
service at -10; the setting's default, 0, leaves the priority alone.

With autogroup scheduling (Debian's default) a process's nice value only ranks
it within its session's group, and the groups share the CPUs by the group's own
nice value, so that is set too: it applies to the whole session (for `make
run`, the shell and make, idle while the service runs).
"""
from __future__ import annotations

import logging
import os
from contextlib import suppress
from pathlib import Path

log = logging.getLogger(__name__)


def set_cpu_nice(nice: int, pid: int = 0) -> None:
    """Give process `pid` (0: this one) and its session's autogroup `nice`.
    OSError (PermissionError without root) if the process's own cannot be set."""
    os.setpriority(os.PRIO_PROCESS, pid, nice)
    with suppress(OSError):  # no autogroup (a kernel without it, or a container)
        Path(f"/proc/{pid or 'self'}/autogroup").write_text(str(nice))


def apply_cpu_nice(nice: int) -> None:
    """set_cpu_nice for the service's setting; a warning, not a failure, if refused."""
    if nice == 0:
        return
    try:
        set_cpu_nice(nice)
        log.info("CPU priority: nice %d", nice)
    except OSError as exc:
        log.warning("CALLVERIFY_CPU_NICE=%d not applied (%s): running at the default priority",
                    nice, type(exc).__name__)
