"""A sipp process playing the called phone behind the sandbox's ``trunk``.

    with SipPhone("answer_dtmf", keys="1234#", port=5070) as phone:
        ...originate a call to PJSIP/...@trunk...
        phone.wait(timeout=30)          # sipp exits after `calls` calls
    phone.invites[0].pai_user, phone.key_times, phone.returncode

By hand, against a running Asterisk:

    python3 -m tests.phones.phone answer_dtmf --keys 1234#
    python3 -m tests.phones.phone busy --port 5070 --calls 3

Each phone renders its scenario and pcap into its own temporary directory, so
several phones may run one after another on the same port (stop one before the
next starts) or side by side on different ports.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `tests.phones` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.phones.dtmf_pcap import KeyEvent, write_dtmf_pcap
from tests.phones.leftover import end_calls
from tests.phones.scenarios import SCENARIOS, render_scenario
from tests.phones.sipp_logs import (
    Invite,
    PhoneEvent,
    SipMessage,
    invites_from,
    parse_events,
    parse_messages,
)


@dataclass(frozen=True)
class KeyTime:
    """When sipp sent a key's first packet: its PLAY time plus the pcap offset."""
    call_id: str
    key: str
    time: float


class PhoneError(RuntimeError):
    pass


def default_media_port(port: int) -> int:
    # Above the sandbox instances' RTP ranges (10000-24999) and below the kernel's
    # ephemeral ports; sipp also binds media_port + 2.
    return 30000 + 10 * (port - 5000)


def _udp_bound(ip: str, port: int) -> bool:
    want = f"{int.from_bytes(bytes(int(p) for p in ip.split('.')), 'little'):08X}:{port:04X}"
    try:
        with open("/proc/net/udp") as table:
            return any(line.split()[1] == want for line in list(table)[1:])
    except OSError:
        return False


# What sipp logs when a request of no call of its own made it abort one.
STRAY_ABORT = "Aborting call on an unexpected"
STRAY_RESTARTS = 3


class SipPhone:
    """One sipp UAS process.  Times are ms; "after the ACK" = after the answer."""

    def __init__(self, scenario: str = "answer_dtmf", *, keys: str = "", port: int = 5070,
                 calls: int = 1, ip: str = "127.0.0.1", media_port: int | None = None,
                 ring_ms: int | None = None, delay_ms: int = 1000,
                 hangup_ms: int | None = None, payload_type: int = 101, lead_ms: int = 200,
                 tone_ms: int = 120, gap_ms: int = 200, pause_ms: int = 1000,
                 silence: bool = True,
                 code: int | None = None, reason: str | None = None, trying: bool = False,
                 sipp: str = "sipp", extra_args: tuple[str, ...] = (),
                 keep_workdir: bool | None = None) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        if scenario == "answer_dtmf" and not keys:
            raise ValueError("answer_dtmf needs keys")
        self.scenario, self.keys, self.port, self.calls, self.ip = scenario, keys, port, calls, ip
        self.media_port = media_port or default_media_port(port)
        if ring_ms is None:
            ring_ms = 100 if scenario.startswith("answer") else 0
        self.ring_ms, self.delay_ms, self.hangup_ms = ring_ms, delay_ms, hangup_ms
        self.payload_type, self.lead_ms, self.tone_ms, self.gap_ms, self.pause_ms = (
            payload_type, lead_ms, tone_ms, gap_ms, pause_ms)
        self.silence, self.code, self.reason, self.trying = silence, code, reason, trying
        if keep_workdir is None:  # CALLVERIFY_KEEP_PHONE_LOGS=1 keeps every phone's logs
            keep_workdir = os.environ.get("CALLVERIFY_KEEP_PHONE_LOGS", "") not in ("", "0")
        self.sipp, self.extra_args, self.keep_workdir = sipp, tuple(extra_args), keep_workdir
        self.workdir: Path | None = None
        self.key_schedule: list[KeyEvent] = []
        self._proc: subprocess.Popen | None = None
        self._out = None
        self._final: tuple[list[SipMessage], list[PhoneEvent]] | None = None
        self.calls_ended_on_stop = 0
        self.stray_restarts = 0

    # -- life cycle -----------------------------------------------------------
    def command(self) -> list[str]:
        assert self.workdir is not None
        w = self.workdir
        return [self.sipp, "-sf", str(w / "scenario.xml"), "-i", self.ip, "-p", str(self.port),
                "-mi", self.ip, "-mp", str(self.media_port), "-m", str(self.calls),
                "-t", "u1", "-aa", "-nostdin",
                "-trace_msg", "-message_file", str(w / "messages.log"),
                "-trace_logs", "-log_file", str(w / "events.log"),
                "-trace_err", "-error_file", str(w / "errors.log"),
                "-trace_screen", "-screen_file", str(w / "screen.log"),
                *self.extra_args]

    def prepare(self) -> Path:
        """Render scenario (and pcap) into a fresh temp dir; returns the scenario path."""
        self.workdir = Path(tempfile.mkdtemp(prefix=f"sipphone-{self.scenario}-{self.port}-"))
        pcap = None
        if self.keys:
            pcap = self.workdir / "dtmf.pcap"
            self.key_schedule = write_dtmf_pcap(
                pcap, self.keys, payload_type=self.payload_type, start_delay_ms=self.lead_ms,
                tone_ms=self.tone_ms, gap_ms=self.gap_ms, pause_ms=self.pause_ms,
                silence=self.silence)
        xml = render_scenario(self.scenario, ring_ms=self.ring_ms, pcap=pcap,
                              payload_type=self.payload_type, delay_ms=self.delay_ms,
                              hangup_ms=self.hangup_ms, code=self.code, reason=self.reason,
                              trying=self.trying)
        path = self.workdir / "scenario.xml"
        path.write_text(xml)
        return path

    def start(self, timeout: float = 5.0) -> SipPhone:
        """Launch sipp and return once it listens on ip:port.

        A request left over from the phone before on this port (a BYE Asterisk
        still retransmits for a call that sipp had ended or dropped) can reach
        sipp as it starts: sipp answers it 200, takes it for a call of its own,
        aborts that and exits before listening. It is then started again, up
        to STRAY_RESTARTS times (`stray_restarts` counts them); the 200 ended
        the retransmissions.
        """
        if self._proc is not None:
            raise PhoneError("phone already started")
        self.prepare()
        assert self.workdir is not None
        while True:
            # Open while sipp runs: closed below on a restart, else by _finish.
            self._out = open(self.workdir / "sipp.out", "wb")  # noqa: SIM115
            self._proc = subprocess.Popen(self.command(), cwd=self.workdir,
                                          stdin=subprocess.DEVNULL, stdout=self._out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
            if self._listening(timeout):
                return self
            if STRAY_ABORT not in self.output() or self.stray_restarts >= STRAY_RESTARTS:
                self._finish()
                raise PhoneError(f"sipp exited with {self._proc.returncode} before listening "
                                 f"on {self.ip}:{self.port}: {self.output()[-800:]}")
            self._out.close()
            (self.workdir / "errors.log").unlink(missing_ok=True)
            self.stray_restarts += 1

    def _listening(self, timeout: float) -> bool:
        """True once sipp binds its port; False if it exited first."""
        deadline = time.monotonic() + timeout
        while not _udp_bound(self.ip, self.port):
            if self._proc.poll() is not None:
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise PhoneError(f"sipp did not bind {self.ip}:{self.port} in {timeout}s")
            time.sleep(0.02)
        return True

    def wait(self, timeout: float | None = None) -> int:
        """Wait for sipp to exit (after `calls` calls); returns its exit code
        (0: every call ended as the scenario expects).  TimeoutError if it runs on."""
        if self._proc is None:
            raise PhoneError("phone not started")
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"sipp phone {self.scenario} still running after {timeout}s "
                               f"(logs in {self.workdir})") from None
        self._finish()
        return self._proc.returncode

    def stop(self, timeout: float = 5.0, grace: float = 0.0) -> int | None:
        """End sipp (SIGTERM, then SIGKILL) and return its exit code.

        Calls still open are then ended by the phone itself (BYE, or 480 if not
        answered), so Asterisk hangs up now and no stray BYE reaches the next
        phone on this port.  `grace` first waits that long for open calls to
        end by themselves; keep it 0 when the far end's engine runs on the
        caller's asyncio loop, which this blocking wait would stall.
        """
        if self._proc is None:
            return None
        deadline = time.monotonic() + grace
        while self.running and self.calls_in_progress and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = self._proc.poll() is None
        if killed:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self._proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self._proc.wait(timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._finish()
        if killed:
            self.calls_ended_on_stop = end_calls(self.ip, self.port, self.messages)
        return self._proc.returncode

    def cleanup(self) -> None:
        """Stop and delete the temp dir (results already read stay available)."""
        self.stop()
        if self.workdir and not self.keep_workdir and self.returncode == 0:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SipPhone:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def _finish(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._final is None and self._proc is not None and self._proc.poll() is not None:
            self._final = (self._read_messages(), self._read_events())

    # -- results --------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def _read_messages(self) -> list[SipMessage]:
        return parse_messages(self.workdir / "messages.log") if self.workdir else []

    def _read_events(self) -> list[PhoneEvent]:
        return parse_events(self.workdir / "events.log") if self.workdir else []

    @property
    def messages(self) -> list[SipMessage]:
        """Every SIP message sipp sent or received, in order."""
        return self._final[0] if self._final else self._read_messages()

    @property
    def events(self) -> list[PhoneEvent]:
        return self._final[1] if self._final else self._read_events()

    @property
    def calls_in_progress(self) -> int:
        """Calls whose INVITE arrived and whose scenario has not reached its end."""
        names = [ev.name for ev in self.events]
        return names.count("INVITE") - names.count("END")

    @property
    def invites(self) -> list[Invite]:
        return invites_from(self.messages)

    @property
    def invite_count(self) -> int:
        return len(self.invites)

    @property
    def key_times(self) -> list[KeyTime]:
        """When each key went out: PLAY time + the key's offset in the pcap."""
        return [KeyTime(ev.call_id, key.key, ev.time + key.offset_ms / 1000)
                for ev in self.events if ev.name == "PLAY" for key in self.key_schedule]

    def wait_for_event(self, name: str, timeout: float, count: int = 1) -> PhoneEvent:
        """Block until the scenario logged ``name`` ``count`` times (e.g. "PLAY")."""
        deadline = time.monotonic() + timeout
        while True:
            found = [ev for ev in self.events if ev.name == name]
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline or not self.running:
                raise TimeoutError(f"phone logged {len(found)} {name} event(s), wanted {count}")
            time.sleep(0.05)

    def output(self) -> str:
        """sipp's own stdout/stderr plus its error log (for failure messages)."""
        if not self.workdir:
            return ""
        parts = [(self.workdir / n) for n in ("sipp.out", "errors.log")]
        return "\n".join(p.read_text(errors="replace") for p in parts if p.exists())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.phones.phone",
        description="Run a sipp test phone (the called party) until its calls are done.",
        epilog="scenarios: " + "; ".join(f"{s.name}: {s.summary}" for s in SCENARIOS.values()))
    parser.add_argument("scenario", choices=list(SCENARIOS))
    parser.add_argument("--keys", default="",
                        help="DTMF keys to send, e.g. 1234# ; ',' pauses pause-ms")
    parser.add_argument("--port", type=int, default=5070)
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--calls", type=int, default=1, help="exit after this many calls")
    parser.add_argument("--media-port", type=int)
    parser.add_argument("--ring-ms", type=int, help="ring this long before answering/refusing")
    parser.add_argument("--delay-ms", type=int, default=1000, help="after ACK, before the pcap")
    parser.add_argument("--lead-ms", type=int, default=200, help="silence in pcap before key 1")
    parser.add_argument("--tone-ms", type=int, default=120)
    parser.add_argument("--gap-ms", type=int, default=200)
    parser.add_argument("--pause-ms", type=int, default=1000, help="length of a ',' in keys")
    parser.add_argument("--hangup-ms", type=int, help="send BYE this long after the ACK")
    parser.add_argument("--payload-type", type=int, default=101)
    parser.add_argument("--no-silence", action="store_true", help="DTMF packets only")
    parser.add_argument("--code", type=int, help="final code for 'reject'")
    parser.add_argument("--reason")
    parser.add_argument("--trying", action="store_true", help="send 100 Trying first")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with sipp logs")
    args = parser.parse_args(argv)
    phone = SipPhone(args.scenario, keys=args.keys, port=args.port, calls=args.calls,
                     ip=args.ip, media_port=args.media_port, ring_ms=args.ring_ms,
                     delay_ms=args.delay_ms, hangup_ms=args.hangup_ms,
                     payload_type=args.payload_type, lead_ms=args.lead_ms,
                     tone_ms=args.tone_ms, gap_ms=args.gap_ms, pause_ms=args.pause_ms,
                     silence=not args.no_silence,
                     code=args.code, reason=args.reason, trying=args.trying,
                     keep_workdir=args.keep)
    phone.start()
    print(f"phone {args.scenario} listening on {args.ip}:{args.port} "
          f"(media {phone.media_port}), logs in {phone.workdir}", flush=True)
    try:
        code = phone.wait(args.timeout)
    except (KeyboardInterrupt, TimeoutError) as exc:
        phone.stop()
        print(f"stopped ({type(exc).__name__}) before {args.calls} call(s) ended")
        code = 1
    for inv in phone.invites:
        print(f"INVITE {inv.request_uri} from={inv.from_user} pai={inv.pai_user} "
              f"copies={inv.copies}")
    for ev in phone.events:
        print(f"{ev.time:.3f} {ev.name} {ev.call_id}")
    for kt in phone.key_times:
        print(f"{kt.time:.3f} key {kt.key}")
    print(f"sipp exit code {phone.returncode}; logs in {phone.workdir}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
