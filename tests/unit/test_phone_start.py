"""The test phone starts again when a request left over from the phone before
on its port made sipp abort and exit before listening (a stand-in sipp here:
the real one only shows it when Asterisk happens to retransmit at that moment)."""
from __future__ import annotations

import sys
import textwrap

import pytest

from tests.conftest import free_port
from tests.phones.phone import PhoneError, SipPhone

# Stands in for sipp, run in the phone's workdir: its first run exits the way sipp
# does on a stray BYE (or as told by argv), later runs listen on the -p port.
FAKE_SIPP = textwrap.dedent("""\
    #!{python}
    import pathlib, socket, sys, time
    runs = pathlib.Path("runs")
    n = int(runs.read_text()) + 1 if runs.exists() else 1
    runs.write_text(str(n))
    if n <= {strays}:
        print("{message}")
        sys.exit(1)
    port = int(sys.argv[sys.argv.index("-p") + 1])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    time.sleep(30)
    """)


def fake_sipp(tmp_path, strays: int, message: str) -> str:
    path = tmp_path / "sipp"
    path.write_text(FAKE_SIPP.format(python=sys.executable, strays=strays, message=message))
    path.chmod(0o755)
    return str(path)


def test_a_stray_request_at_start_up_starts_sipp_again(tmp_path):
    sipp = fake_sipp(tmp_path, 1, "Aborting call on an unexpected BYE for call: x@127.0.0.1")
    phone = SipPhone("busy", port=free_port(), sipp=sipp)
    try:
        phone.start()
        assert phone.running and phone.stray_restarts == 1
    finally:
        phone.stop()


def test_any_other_early_exit_is_an_error(tmp_path):
    phone = SipPhone("busy", port=free_port(), sipp=fake_sipp(tmp_path, 9, "no such option"))
    with pytest.raises(PhoneError, match="before listening"):
        phone.start()
    assert phone.stray_restarts == 0


def test_strays_that_go_on_end_in_an_error(tmp_path):
    sipp = fake_sipp(tmp_path, 9, "Aborting call on an unexpected BYE for call: x@127.0.0.1")
    phone = SipPhone("busy", port=free_port(), sipp=sipp)
    with pytest.raises(PhoneError, match="before listening"):
        phone.start()
    assert phone.stray_restarts == 3
