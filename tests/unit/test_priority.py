"""CALLVERIFY_CPU_NICE: the process's nice value and its autogroup's; refused
(not root) it is a warning and the service goes on."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

from engine import priority
from engine.settings import load_settings


def nice_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[16])


def test_a_process_and_its_sessions_autogroup_get_the_priority():
    # Lowering a nice value needs root, as `make test` runs.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             start_new_session=True)
    try:
        priority.set_cpu_nice(-7, child.pid)
        assert nice_of(child.pid) == -7
        autogroup = f"/proc/{child.pid}/autogroup"
        if os.path.exists(autogroup):
            with open(autogroup) as fh:
                assert fh.read().split()[-1] == "-7"  # "/autogroup-123 nice -7"
    finally:
        child.kill()
        child.wait()


def test_refused_is_a_warning_and_zero_does_nothing(monkeypatch, caplog):
    calls = []

    def refuse(*args):
        calls.append(args)
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    priority.apply_cpu_nice(0)
    assert calls == []
    with caplog.at_level(logging.WARNING, logger="engine.priority"):
        priority.apply_cpu_nice(-10)
    assert calls and "CALLVERIFY_CPU_NICE=-10 not applied (PermissionError)" in caplog.text


def test_the_setting_reads_a_negative_number():
    assert load_settings({"CALLVERIFY_CPU_NICE": "-10"}).cpu_nice == -10
    assert load_settings({}).cpu_nice == 0
