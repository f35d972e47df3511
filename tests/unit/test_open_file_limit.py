"""api/connections.py room_for_connections: the API raises its open-file limit
to hold CALLVERIFY_MAX_CONNECTIONS (so the cap, not a failed accept(), turns
the surplus away), and warns when the hard limit does not allow it. Run in a
child process whose limits the test lowers first."""
from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import logging, resource; logging.basicConfig(); "
         "from api.connections import room_for_connections; "
         "print(room_for_connections(2000), resource.getrlimit(resource.RLIMIT_NOFILE)[0])")


def probe(soft: int, hard: int) -> subprocess.CompletedProcess:
    def lowered() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, preexec_fn=lowered,
                          capture_output=True, text=True, timeout=60, check=True)


def test_the_soft_limit_is_raised_to_hold_the_cap():
    done = probe(1024, 4096)
    assert done.stdout.split() == ["2512", "2512"]  # 2000 connections and 512 spare
    assert done.stderr == ""


def test_a_hard_limit_too_low_is_used_and_named_in_a_warning():
    done = probe(1024, 1500)
    assert done.stdout.split() == ["1500", "1500"]
    assert "open-file limit (1500) is below CALLVERIFY_MAX_CONNECTIONS=2000" in done.stderr


def test_a_limit_already_high_enough_is_left_alone():
    assert probe(3000, 4096).stdout.split() == ["3000", "3000"]
