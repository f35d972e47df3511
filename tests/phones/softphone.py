"""baresip 1.0 (Debian's baresip-core) as a real softphone, for tests.

It registers with the fields `callverify phone add` printed, answers by
itself (`;answermode=auto`) or only rings (`answer=False`), and keys digits
through its console as a person would: it runs in a tmux session, and a digit
typed while a call is up is sent as RFC 4733 DTMF. Everything it prints goes
to a log file (tmux pipe-pane), which the waits below read: each returns as
soon as the line it waits for appears, or raises after its timeout.

    async with Softphone(fields) as phone:       # started, registered
        caller = await phone.incoming_call()     # "42122221234"
        await phone.established()
        await phone.hearing()                    # the prompt's audio arrives
        await phone.key("1234#")

Its audio comes from a WAV of silence (baresip's `aufile` source: without a
source it never completes an answer) and goes to a bridge nobody reads.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
import wave
from pathlib import Path

BARESIP = "baresip"
MODULES = Path("/usr/lib/baresip/modules")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REGISTERED = re.compile(r"\{\d+/UDP/v4\} 200 OK")
# "reg: sip:1202...@127.0.0.1:5560: 401 Unauthorized" (a failed REGISTER)
REGISTER_REFUSED = re.compile(r"reg: \S+: (\d{3}) ")
# Auto-answer: "call: answering call on line 1 from sip:42122221234@127.0.0.1 with 200";
# ringing: "Incoming call from: ... sip:42122221234@127.0.0.1 - (press 'a' to accept)"
INCOMING = re.compile(r"(?:answering call on line \d+ from |Incoming call from: .*?)sip:([^@\s>]+)@")
ESTABLISHED = re.compile(r"Call established")
# The first RTP packet of the call's audio arrived (the prompt has started):
# "stream: incoming rtp for 'audio' established, receiving from 127.0.0.1:22042"
RECEIVING = re.compile(r"incoming rtp for 'audio' established, receiving from ([\d.]+):")
CLOSED = re.compile(r"session closed|terminated \(duration")
SILENCE_SECONDS = 120


class SoftphoneError(RuntimeError):
    pass


def free_sip_port(address: str = "127.0.0.1") -> int:
    """A port whose UDP and TCP, and TCP one above (baresip's TLS), are free on `address`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(_free(address, port + step, kind) for step, kind in (
                (0, socket.SOCK_DGRAM), (0, socket.SOCK_STREAM), (1, socket.SOCK_STREAM))):
            return port
    raise SoftphoneError("no free port for baresip")


def _free(address: str, port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def write_silence(path: Path, seconds: int = SILENCE_SECONDS) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000 * seconds)


class Softphone:
    """One baresip process in its own tmux session, with one account."""

    def __init__(self, fields: dict, *, password: str | None = None, answer: bool = True,
                 regint: int = 60, address: str = "127.0.0.1") -> None:
        """`fields`: `callverify phone add`'s JSON; `password` replaces its password
        (a wrong one); `answer`: answer by itself, or only ring; `address`: the
        phone's own (SIP and RTP)."""
        self.fields = fields
        self.address = address
        self.password = fields["password"] if password is None else password
        self.answer, self.regint = answer, regint
        self.session = f"cvphone-{uuid.uuid4().hex[:8]}"
        self.workdir = Path(tempfile.mkdtemp(prefix="softphone-"))
        self.log = self.workdir / "console.log"
        self.port = 0
        self._text = ""
        self._offset = 0
        self._started = False
        self._call_at = 0  # where the output of the current call begins
        self._call_end = 0  # where the output of the last call ended

    # -- life cycle -----------------------------------------------------------
    def write_config(self) -> None:
        self.port = free_sip_port(self.address)
        write_silence(self.workdir / "silence.wav")
        (self.workdir / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen {self.address}:{self.port}",
            f"net_interface {self.address}",
            "rtp_ports 45000-45999",
            f"audio_source aufile,{self.workdir / 'silence.wav'}",
            "audio_player aubridge,nowhere",
            "audio_alert aubridge,nowhere",
            f"module_path {MODULES}",
            *(f"module {name}.so" for name in ("stdio", "g711", "aufile", "aubridge")),
            "module_app account.so",
            "module_app menu.so",
            ""]))
        f = self.fields
        mode = "auto" if self.answer else "manual"
        (self.workdir / "accounts").write_text(
            f"<sip:{f['username']}@{f['domain']};transport={f['transport']}>"
            f";auth_user={f['username']};auth_pass={self.password}"
            f";regint={self.regint};answermode={mode}\n")

    def start(self) -> Softphone:
        """Start baresip; its console output is logged from its first line."""
        if shutil.which(BARESIP) is None or shutil.which("tmux") is None:
            raise SoftphoneError("baresip or tmux missing: make deps (baresip-core, tmux)")
        self.write_config()
        self.log.touch()
        # The shell waits for a newline, so the log is piped before baresip prints.
        command = f"read go; exec {BARESIP} -f {self.workdir}"
        self._started = True  # from here on, stop() ends the session
        self._tmux("new-session", "-d", "-s", self.session, "-x", "200", "-y", "50", command)
        self._tmux("pipe-pane", "-t", self.session, "-o", f"cat >> {self.log}")
        self._tmux("send-keys", "-t", self.session, "Enter")
        return self

    def stop(self) -> None:
        """End the tmux session (and baresip with it), always."""
        if not self._started:
            return
        self._started = False
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)

    def cleanup(self) -> None:
        """Stop it and delete its directory (CALLVERIFY_KEEP_PHONE_LOGS=1 keeps it)."""
        self.stop()
        if os.environ.get("CALLVERIFY_KEEP_PHONE_LOGS", "") in ("", "0"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def quit(self, timeout: float = 3) -> None:
        """Quit as a person would ('q': it unregisters first), then clean up."""
        try:
            if self.running:
                self._tmux("send-keys", "-t", self.session, "q")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                while self.running and loop.time() < deadline:
                    await asyncio.sleep(0.1)
        finally:
            self.cleanup()

    async def __aenter__(self) -> Softphone:
        try:
            self.start()
            await self.registered()
        except BaseException:
            self.cleanup()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self.quit()

    @property
    def running(self) -> bool:
        """Whether its tmux session (which ends with baresip) is still there."""
        return self._started and subprocess.run(
            ["tmux", "has-session", "-t", self.session], capture_output=True).returncode == 0

    def _tmux(self, *args: str) -> None:
        done = subprocess.run(["tmux", *args], capture_output=True, text=True)
        if done.returncode:
            raise SoftphoneError(f"tmux {args[0]}: {done.stderr.strip()}")

    # -- what it printed ------------------------------------------------------
    def output(self) -> str:
        """Everything baresip printed so far, without terminal escapes."""
        with self.log.open("rb") as log:
            log.seek(self._offset)
            new = log.read()
        self._offset += len(new)
        self._text += ANSI.sub("", new.decode(errors="replace"))
        return self._text

    async def wait_for(self, pattern: re.Pattern, timeout: float = 15,
                       after: int = 0) -> re.Match:
        """The first match of `pattern` in the output from position `after` on,
        as soon as it is printed; TimeoutError (with the output's tail) after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_check = loop.time() + 0.5
        while True:
            found = pattern.search(self.output(), after)
            if found:
                return found
            if loop.time() > next_check:
                next_check = loop.time() + 0.5
                if not self.running:
                    raise SoftphoneError(f"baresip exited; it printed:\n{self.output()[-1500:]}")
            if loop.time() > deadline:
                raise TimeoutError(f"baresip did not print {pattern.pattern!r} in {timeout} s; "
                                   f"it printed:\n{self._text[-1500:]}")
            await asyncio.sleep(0.05)

    async def registered(self, timeout: float = 15) -> None:
        """Wait for the 200 to its REGISTER; SoftphoneError if it was refused."""
        found = await self.wait_for(re.compile(f"{REGISTERED.pattern}|{REGISTER_REFUSED.pattern}"),
                                    timeout)
        if found.group(1):
            raise SoftphoneError(f"REGISTER refused: {found.group(1)}")

    async def register_refusal(self, timeout: float = 15) -> int:
        """The status of the REGISTER the registrar refused (e.g. 401)."""
        return int((await self.wait_for(REGISTER_REFUSED, timeout)).group(1))

    async def incoming_call(self, timeout: float = 20) -> str:
        """The calling number (From's user) of the next call that rings it."""
        found = await self.wait_for(INCOMING, timeout, self._call_end)
        self._call_at = found.start()
        return found.group(1)

    async def established(self, timeout: float = 15) -> None:
        """Wait until the call is answered (by itself)."""
        await self.wait_for(ESTABLISHED, timeout, self._call_at)

    async def hearing(self, timeout: float = 15) -> str:
        """Wait until audio arrives on the call (the prompt has started); the
        address it comes from."""
        return (await self.wait_for(RECEIVING, timeout, self._call_at)).group(1)

    async def closed(self, timeout: float = 30) -> None:
        """Wait for the call to end."""
        self._call_end = (await self.wait_for(CLOSED, timeout, self._call_at)).end()

    async def key(self, digits: str, timeout: float = 5) -> None:
        """Type `digits` on its keypad one at a time, each once the last one's tone ended."""
        for digit in digits:
            start = len(self.output())
            self._tmux("send-keys", "-t", self.session, "-l", digit)
            await self.wait_for(re.compile(re.escape(f"send DTMF digit end: '{digit}'")),
                                timeout, start)
