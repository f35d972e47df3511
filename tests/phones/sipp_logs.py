"""Reading what a sipp test phone saw: its message trace and its event log.

* ``-trace_msg`` writes every SIP message with the time sipp sent or received it;
  this gives the INVITEs (request URI, From, P-Asserted-Identity).
* The scenarios' ``<log>`` actions write ``EVENT <NAME> <call-id> <sec> <usec>``
  lines (INVITE, ANSWERED, PLAY, BYE_SENT, BYE_RECEIVED, CANCELLED, REFUSED).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_STAMP = re.compile(r"^-{10,} (\d{4}-\d\d-\d\d[\t ]\d\d:\d\d:\d\d\.\d+)\s*$", re.M)
_DIRECTION = re.compile(r"^(UDP|TCP|TLS|SCTP) message (received|sent)", re.M)
_USER = re.compile(r"<?(?:sips?|tel):([^@;>?]+)")


@dataclass(frozen=True)
class SipMessage:
    time: float              # epoch seconds, as logged by sipp
    direction: str           # "received" or "sent"
    text: str

    @property
    def first_line(self) -> str:
        return self.text.split("\n", 1)[0].strip()

    @property
    def method(self) -> str | None:
        word = self.first_line.split(" ", 1)[0]
        return None if word.startswith("SIP/") else word

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (compact forms not handled)."""
        want = name.lower()
        for line in self.text.split("\n")[1:]:
            if not line.strip():
                break
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == want:
                return value.strip()
        return None


@dataclass(frozen=True)
class Invite:
    """An INVITE the phone received (the first copy; retransmissions folded in)."""
    time: float
    call_id: str
    request_uri: str
    request_user: str | None
    from_user: str | None
    from_name: str | None
    pai_user: str | None
    copies: int
    message: SipMessage


@dataclass(frozen=True)
class PhoneEvent:
    name: str
    call_id: str
    time: float


def uri_user(value: str | None) -> str | None:
    """``"Bob" <sip:+15551234567@host>;tag=x`` -> ``+15551234567``."""
    if not value:
        return None
    match = _USER.search(value)
    return match.group(1) if match else None


def display_name(value: str | None) -> str | None:
    if not value or "<" not in value:
        return None
    name = value.split("<", 1)[0].strip().strip('"')
    return name or None


def parse_messages(path: Path) -> list[SipMessage]:
    try:
        raw = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    raw = raw.replace("\r\n", "\n")
    stamps = list(_STAMP.finditer(raw))
    messages = []
    for i, stamp in enumerate(stamps):
        end = stamps[i + 1].start() if i + 1 < len(stamps) else len(raw)
        block = raw[stamp.end():end]
        direction = _DIRECTION.search(block)
        if not direction:
            continue
        body = block[direction.end():].split("\n", 1)[-1].lstrip("\n")
        when = datetime.strptime(stamp.group(1).replace("\t", " "),
                                 "%Y-%m-%d %H:%M:%S.%f").timestamp()
        messages.append(SipMessage(when, direction.group(2), body.rstrip("\n") + "\n"))
    return messages


def invites_from(messages: list[SipMessage]) -> list[Invite]:
    seen: dict[tuple[str | None, str | None], list] = {}
    order = []
    for msg in messages:
        if msg.direction != "received" or msg.method != "INVITE":
            continue
        key = (msg.header("Call-ID"), msg.header("CSeq"))
        if key not in seen:
            seen[key] = [msg, 0]
            order.append(key)
        seen[key][1] += 1
    invites = []
    for key in order:
        msg, copies = seen[key]
        uri = msg.first_line.split(" ")[1]
        from_value = msg.header("From")
        pai = msg.header("P-Asserted-Identity")
        invites.append(Invite(msg.time, key[0] or "", uri, uri_user(uri), uri_user(from_value),
                              display_name(from_value), uri_user(pai), copies, msg))
    return invites


def parse_events(path: Path) -> list[PhoneEvent]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        parts = line.split()
        if "EVENT" not in parts:
            continue
        i = parts.index("EVENT")
        try:
            name, call_id, sec, usec = parts[i + 1:i + 5]
            events.append(PhoneEvent(name, call_id, float(sec) + float(usec) / 1e6))
        except ValueError:
            continue  # a line cut short while sipp is still writing
    return events
