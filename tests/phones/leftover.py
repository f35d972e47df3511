"""End the calls a phone leaves behind when it is stopped mid-call.

sipp does not hang up when it is killed.  Asterisk then keeps retransmitting
its BYE (or CANCEL) to the port for about 32 s, and the next phone on that port
(sipp 3.6.1 in server mode) takes the stray request for a new call, counts it
against ``-m`` and exits before the real INVITE arrives.  So, after sipp has
gone, the phone takes its port back for a moment: it sends BYE for answered
calls, 480 for unanswered ones, and answers whatever the far end still sends
(200 for BYE/CANCEL), from what sipp's message trace recorded.
"""
from __future__ import annotations

import re
import socket
import time
import uuid

from tests.phones.sipp_logs import SipMessage

_CSEQ = re.compile(r"(\d+)\s+(\w+)")


def _response_to(request: str, code: int, reason: str, to_tag: str = "") -> bytes:
    copied = []
    for line in request.split("\n")[1:]:
        if not line.strip():
            break
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "from", "call-id", "cseq"):
            copied.append(line.rstrip("\r"))
        elif name == "to":
            line = line.rstrip("\r")
            copied.append(line if ";tag=" in line or not to_tag else f"{line};tag={to_tag}")
    return ("\r\n".join([f"SIP/2.0 {code} {reason}", *copied, "Content-Length: 0"])
            + "\r\n\r\n").encode()


def _status(msg: SipMessage) -> tuple[int, str] | None:
    line = msg.first_line
    if not line.startswith("SIP/2.0 "):
        return None
    cseq = _CSEQ.search(msg.header("CSeq") or "")
    return int(line.split()[1]), cseq.group(2) if cseq else ""


def unfinished_calls(messages: list[SipMessage]) -> dict[str, dict]:
    """Call-ID -> what is needed to end it, for calls sipp left open."""
    calls: dict[str, dict] = {}
    for msg in messages:
        cid = msg.header("Call-ID") or ""
        method, status = msg.method, _status(msg)
        if msg.direction == "received" and method == "INVITE" and cid not in calls:
            calls[cid] = {"invite": msg, "final": None, "to": None, "ended": False}
        call = calls.get(cid)
        if call is None:
            continue
        if status and status[1] == "INVITE" and msg.direction == "sent":
            call["to"] = msg.header("To")
            if status[0] >= 200:
                call["final"] = status[0]
        if method in ("BYE", "CANCEL"):
            call["ended"] = True
        if status and status[1] == "BYE" and msg.direction == "received":
            call["ended"] = True
    return {cid: c for cid, c in calls.items()
            if not c["ended"] and (c["final"] is None or c["final"] < 300)}


def end_calls(ip: str, port: int, messages: list[SipMessage], linger: float = 1.0,
              max_linger: float = 5.0) -> int:
    """Close what sipp left open; returns how many calls it had to end.

    Must run after sipp exited (it binds the phone's port)."""
    open_calls = unfinished_calls(messages)
    if not open_calls:
        return 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, port))
    except OSError:
        sock.close()
        return 0  # another phone already has the port: it is on its own
    try:
        byes = 0
        for call in open_calls.values():
            invite = call["invite"]
            tag_match = re.search(r";tag=([^;>\s]+)", call["to"] or "")
            tag = tag_match.group(1) if tag_match else uuid.uuid4().hex[:8]
            if call["final"] is None:
                payload = _response_to(invite.text, 480, "Temporarily Unavailable", tag)
                target = _via_target(invite)
            else:
                payload, target = _bye(ip, port, invite, call["to"])
                byes += 1
            if target:
                sock.sendto(payload, target)
        _answer_stragglers(sock, byes, linger, max_linger)
    finally:
        sock.close()
    return len(open_calls)


def _via_target(msg: SipMessage) -> tuple[str, int] | None:
    match = re.search(r"SIP/2\.0/UDP\s+([\d.]+):(\d+)", msg.header("Via") or "")
    return (match.group(1), int(match.group(2))) if match else None


def _bye(ip: str, port: int, invite: SipMessage, our_to: str | None):
    contact = re.search(r"<?(sips?:[^>;\s]+(?:;[^>\s]*)?)>?", invite.header("Contact") or "")
    uri = contact.group(1) if contact else invite.first_line.split()[1]
    host = re.search(r"@?([\d.]+):(\d+)", uri.split("sip:", 1)[-1])
    target = (host.group(1), int(host.group(2))) if host else _via_target(invite)
    text = "\r\n".join([
        f"BYE {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK-{uuid.uuid4().hex[:12]}",
        f"From: {our_to}", f"To: {invite.header('From')}",
        f"Call-ID: {invite.header('Call-ID')}", "CSeq: 9000 BYE", "Max-Forwards: 70",
        "Reason: Q.850;cause=16", "Content-Length: 0"]) + "\r\n\r\n"
    return text.encode(), target


def _answer_stragglers(sock: socket.socket, byes: int, linger: float, max_linger: float) -> None:
    """200 any BYE/CANCEL the far end (re)sends, until our BYEs are answered and
    `linger` seconds passed without a request (at most `max_linger`).  An INVITE
    is left unanswered: it is a new call, and its retransmission will find the
    next phone."""
    start = time.monotonic()
    quiet_since = start
    while True:
        now = time.monotonic()
        if now - start >= max_linger or (byes <= 0 and now - quiet_since >= linger):
            break
        sock.settimeout(min(0.2, max_linger - (now - start)))
        try:
            data, peer = sock.recvfrom(65535)
        except TimeoutError:
            continue
        text = data.decode(errors="replace").replace("\r\n", "\n")
        first = text.split("\n", 1)[0]
        if first.startswith("SIP/2.0 ") and " BYE" in text.split("CSeq:", 1)[-1].split("\n")[0]:
            if not first.startswith("SIP/2.0 1"):
                byes -= 1
            continue
        quiet_since = time.monotonic()
        if first.split(" ", 1)[0] in ("BYE", "CANCEL", "OPTIONS"):
            sock.sendto(_response_to(text, 200, "OK"), peer)
