"""`callverify api --workers N`: N API processes sharing one port (SO_REUSEPORT).

The kernel spreads new connections over the workers; each is a whole API: its
own event loop and its own Service (api/service.py) with the api part alone.
The parent only forwards SIGINT/SIGTERM and waits. A worker that dies on its
own takes the others down with it (exit 1), so a supervisor sees the failure
instead of a silently smaller service.
"""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)


def run_workers(count: int, serve: Callable[[int], None]) -> int:
    """Fork `count` processes running `serve(n)`, n the worker's number from 0;
    the exit status for the parent."""
    children: list[int] = []
    stopping = False

    def forward(signum: int, _frame=None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for worker in range(count):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            status = 0
            try:
                serve(worker)
            except BaseException:
                log.exception("api worker %d failed", os.getpid())
                status = 1
            os._exit(status)
        children.append(pid)
    log.info("api: %d workers (%s)", count, ", ".join(map(str, children)))
    status = 0
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        children.remove(pid)
        if wait_status and not stopping:
            log.error("api worker %d ended (wait status %d); stopping the others", pid,
                      wait_status)
            status = 1
            forward(signal.SIGTERM)
    return status
