"""The test phones' scenario catalogue and the tiny template renderer.

The XML templates in ``templates/`` are plain sipp scenarios with two additions
that this module resolves before sipp sees them:

* ``@@NAME@@`` is replaced by a value (a pcap path, a delay, a SIP code);
* ``<!-- if NAME --> ... <!-- end NAME -->`` is kept when NAME is switched on
  and dropped otherwise.

Rendering (rather than sipp ``-key``/``-set``) is used because sipp reads the
``play_pcap_audio`` path and the ``timeout`` attributes when it loads the
scenario, before any keyword or variable exists.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

_BLOCK = re.compile(r"[ \t]*<!-- if (\w+) -->\n?(.*?)[ \t]*<!-- end \1 -->\n?", re.S)
_VALUE = re.compile(r"@@(\w+)@@")


@dataclass(frozen=True)
class Scenario:
    name: str
    template: str
    summary: str
    flags: frozenset[str] = frozenset()
    values: dict[str, str] = field(default_factory=dict)


# Who the forwarding phones say the call was for, and where they send it.
FORWARD = {"FORWARDED_FROM": "15550001111", "FORWARDED_TO": "15550002222"}

SCENARIOS = {s.name: s for s in [
    Scenario("answer_dtmf", "answer.xml",
             "answer, wait delay_ms, key in the digits (RFC 4733), wait for BYE",
             frozenset({"play"})),
    Scenario("answer_silent", "answer.xml", "answer and send nothing until BYE"),
    Scenario("answer_hangup", "answer.xml",
             "answer (optionally key digits), then send BYE hangup_ms after the ACK",
             frozenset({"hangup"})),
    Scenario("forwarded", "answer.xml",
             "181 with a Diversion header (call forwarded; on the 180 too when it rings), "
             "then answer; wait for BYE",
             frozenset({"forward", "diversion"}), values=FORWARD),
    Scenario("forwarded_history", "answer.xml",
             "181 with a History-Info header (no Diversion), then answer; wait for BYE",
             frozenset({"forward", "history"}), values=FORWARD),
    Scenario("forwarded_bare", "answer.xml",
             "181 with neither Diversion nor History-Info, then answer; wait for BYE",
             frozenset({"forward"}), values=FORWARD),
    Scenario("diverted_ringing", "answer.xml",
             "no 181; a Diversion header on the 180 only (with ring_ms), then answer",
             frozenset({"diversion"}), values=FORWARD),
    Scenario("forwarded_busy", "reject.xml", "181 with a Diversion header, then 486 Busy Here",
             frozenset({"forward"}), values={**FORWARD, "CODE": "486", "REASON": "Busy Here"}),
    Scenario("redirect", "redirect.xml",
             "302 Moved Temporarily to FORWARDED_TO at this phone's address", values=FORWARD),
    Scenario("busy", "reject.xml", "486 Busy Here", values={"CODE": "486", "REASON": "Busy Here"}),
    Scenario("unavailable", "reject.xml", "503 Service Unavailable",
             values={"CODE": "503", "REASON": "Service Unavailable"}),
    Scenario("decline", "reject.xml", "603 Decline", values={"CODE": "603", "REASON": "Decline"}),
    Scenario("reject", "reject.xml", "any final code given as code/reason"),
    Scenario("ring_forever", "ring_forever.xml", "180 and never answer; CANCEL gets 200 + 487"),
]}


def render(text: str, values: dict[str, object], flags: set[str] | frozenset[str]) -> str:
    """Resolve the ``if`` blocks (innermost first), then the ``@@NAME@@`` values."""
    while True:
        out = _BLOCK.sub(lambda m: m.group(2) if m.group(1) in flags else "", text)
        if out == text:
            break
        text = out
    missing = sorted({m for m in _VALUE.findall(text) if m not in values})
    if missing:
        raise ValueError(f"template needs values for {missing}")
    return _VALUE.sub(lambda m: str(values[m.group(1)]), text)


def render_scenario(name: str, *, ring_ms: int = 0, pcap: Path | None = None,
                    payload_type: int = 101, delay_ms: int = 0,
                    hangup_ms: int | None = None, code: int | None = None,
                    reason: str | None = None, trying: bool = False) -> str:
    """The sipp XML for scenario ``name`` with these timings (all ms after the ACK)."""
    try:
        scenario = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
    flags = set(scenario.flags)
    values: dict[str, object] = dict(scenario.values)
    values["PAYLOAD_TYPE"] = payload_type
    if trying:
        flags.add("trying")
    if ring_ms > 0:
        flags.add("ring")
        values["RING_MS"] = ring_ms
    if name == "answer_hangup":
        if hangup_ms is None or hangup_ms < 0:
            raise ValueError("answer_hangup needs hangup_ms >= 0")
        if pcap is not None and hangup_ms > delay_ms:
            flags.add("play")
            values["HANGUP_WAIT_MS"] = max(1, hangup_ms - delay_ms)
        else:
            values["HANGUP_WAIT_MS"] = max(1, hangup_ms)  # 0 would mean "wait forever"
    elif hangup_ms is not None and name == "answer_dtmf":
        # answer_dtmf may also give up by itself, e.g. when the far end never hangs up
        flags.add("hangup")
        values["HANGUP_WAIT_MS"] = max(1, hangup_ms - delay_ms)
    if "hangup" not in flags:
        flags.add("nohangup")
    if "play" in flags:
        if pcap is None:
            raise ValueError(f"{name} needs a pcap (keys)")
        values["PCAP"] = Path(pcap).resolve()
        if delay_ms > 0:
            flags.add("delay")
            values["DELAY_MS"] = delay_ms
    if name == "reject" and code is None:
        raise ValueError("reject needs code")
    if code is not None:
        values["CODE"] = code
        values["REASON"] = reason or values.get("REASON") or "Rejected"
    text = (TEMPLATE_DIR / scenario.template).read_text()
    return render(text, values, flags)
