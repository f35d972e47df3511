"""The test phones' pure parts: the RFC 4733 pcap, the scenario templates, the
sipp log reader, the leftover-call finder.  What Asterisk makes of them is
proven in tests/integration."""
from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from itertools import pairwise
from pathlib import Path

import pytest

from tests.phones.dtmf_pcap import (
    PCAP_EPOCH,
    build_dtmf_stream,
    decode_events,
    parse_rtp,
    read_pcap,
    write_dtmf_pcap,
)
from tests.phones.leftover import unfinished_calls
from tests.phones.scenarios import SCENARIOS, render_scenario
from tests.phones.sipp_logs import SipMessage, invites_from, parse_events, parse_messages

TE = 101  # telephone-event payload type


def rtp_of(path: Path):
    captured = read_pcap(path)
    return captured, [parse_rtp(c.payload) for c in captured]


def test_each_key_is_its_own_event_even_when_repeated(tmp_path):
    path = tmp_path / "keys.pcap"
    schedule = write_dtmf_pcap(path, "1111#", payload_type=TE, start_delay_ms=300,
                               tone_ms=120, gap_ms=200)
    captured, packets = rtp_of(path)
    events = decode_events(packets, TE, times=[c.time for c in captured])

    assert [e.key for e in events] == list("1111#")
    stamps = [e.timestamp for e in events]
    assert len(set(stamps)) == 5 and stamps == sorted(stamps)
    assert all(e.marker for e in events)              # marker opens every event
    assert all(e.end_packets == 3 for e in events)    # end bit sent three times
    assert all(e.duration == 120 * 8 for e in events)
    # the event timestamp is the media clock at the key's start
    first_ts = packets[0].timestamp
    assert [s - first_ts for s in stamps] == [k.offset_ms * 8 for k in schedule]
    assert [k.offset_ms for k in schedule] == [300, 620, 940, 1260, 1580]
    assert [round(e.first_time - captured[0].time, 3) for e in events] == [
        k.offset_ms / 1000 for k in schedule]


def test_one_stream_continuous_sequence_numbers_and_20ms_pacing(tmp_path):
    path = tmp_path / "keys.pcap"
    write_dtmf_pcap(path, "12", payload_type=TE, start_delay_ms=200, tail_ms=100)
    captured, packets = rtp_of(path)

    seqs = [p.seq for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert {p.ssrc for p in packets} == {packets[0].ssrc}
    assert packets[0].marker and packets[0].payload_type == 0   # PCMU lead-in
    assert {p.payload_type for p in packets} == {0, TE}
    gaps = {round((b.time - a.time) * 1000) for a, b in pairwise(captured)}
    assert gaps == {20}
    # silence never overlaps an event: no PCMU between a key's start and its last end
    for event in decode_events(packets, TE):
        inside = [p for p in packets if p.payload_type == 0
                  and event.timestamp <= p.timestamp < event.timestamp + event.duration + 480]
        assert inside == []


def test_durations_grow_until_the_end_packets(tmp_path):
    packets, _ = build_dtmf_stream("5", payload_type=TE, tone_ms=100, silence=False)
    fields = [struct.unpack("!BBH", p.payload) for p in packets]
    assert [code for code, _, _ in fields] == [5] * 8
    assert [flags >> 7 for _, flags, _ in fields] == [0] * 5 + [1] * 3
    assert [dur for _, _, dur in fields] == [160, 320, 480, 640, 800, 800, 800, 800]
    assert [p.marker for p in packets] == [True] + [False] * 7


def test_without_silence_the_first_key_leaves_at_once(tmp_path):
    path = tmp_path / "bare.pcap"
    schedule = write_dtmf_pcap(path, "*0", payload_type=TE, start_delay_ms=500,
                               silence=False)
    _, packets = rtp_of(path)
    assert {p.payload_type for p in packets} == {TE}
    assert schedule[0].offset_ms == 0
    assert [e.key for e in decode_events(packets, TE)] == ["*", "0"]


def test_comma_pauses_between_attempts():
    _, schedule = build_dtmf_stream("9#,1", tone_ms=100, gap_ms=100, pause_ms=1500,
                                    start_delay_ms=0)
    assert [(k.key, k.offset_ms) for k in schedule] == [("9", 0), ("#", 200), ("1", 1900)]


def test_pcap_is_what_sipp_can_replay(tmp_path):
    path = tmp_path / "keys.pcap"
    write_dtmf_pcap(path, "1", payload_type=TE)
    data = path.read_bytes()
    magic, major, minor, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 1)
    captured = read_pcap(path)
    # sipp maps ports relative to the lowest destination port: keep them equal
    assert {c.dst[1] for c in captured} == {captured[0].dst[1]}
    assert all(c.udp_checksum_ok for c in captured)
    # sipp's pacing mistakes a zero timestamp for "no previous packet"
    assert captured[0].time >= PCAP_EPOCH


@pytest.mark.parametrize("keys,tone,gap", [("12x", 120, 200), ("1", 90, 200), ("1", 120, 40)])
def test_bad_input_is_refused(keys, tone, gap):
    with pytest.raises(ValueError):
        build_dtmf_stream(keys, tone_ms=tone, gap_ms=gap)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_renders_to_plain_sipp_xml(name, tmp_path):
    pcap = tmp_path / "k.pcap"
    kwargs = {"answer_dtmf": {"pcap": pcap}, "answer_hangup": {"hangup_ms": 500},
              "reject": {"code": 480, "reason": "Temporarily Unavailable"}}.get(name, {})
    xml = render_scenario(name, ring_ms=100, delay_ms=300, **kwargs)
    assert "@@" not in xml and "<!-- if " not in xml and "<!-- end " not in xml
    root = ET.fromstring(xml.split("\n", 2)[2])  # past the XML and DOCTYPE lines
    assert root.tag == "scenario"
    assert root[0].tag == "recv" and root[0].get("request") == "INVITE"


def test_answer_dtmf_offers_the_pcaps_payload_type_and_plays_it(tmp_path):
    pcap = tmp_path / "k.pcap"
    xml = render_scenario("answer_dtmf", pcap=pcap, payload_type=96, delay_ms=700)
    assert "m=audio [media_port] RTP/AVP 0 96" in xml
    assert "a=rtpmap:96 telephone-event/8000" in xml
    assert f'play_pcap_audio="{pcap.resolve()}"' in xml
    assert 'timeout="700" ontimeout="play"' in xml
    assert "SIP/2.0 100 Trying" not in xml


def test_reject_codes():
    assert "SIP/2.0 486 Busy Here" in render_scenario("busy")
    assert "SIP/2.0 503 Service Unavailable" in render_scenario("unavailable")
    assert "SIP/2.0 603 Decline" in render_scenario("decline")
    assert "180 Ringing" not in render_scenario("busy")
    assert "180 Ringing" in render_scenario("decline", ring_ms=2000)


SIPP_TRACE = (
    "----------------------------------------------- 2026-01-02 03:04:05.250000\n"
    "UDP message received [500] bytes :\n\n"
    "INVITE sip:15551230001@127.0.0.1:5070 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5160;branch=z9hG4bK1\r\n"
    "From: \"CV\" <sip:4155550100@127.0.0.1>;tag=a\r\n"
    "To: <sip:15551230001@127.0.0.1>\r\n"
    "Call-ID: abc\r\nCSeq: 7 INVITE\r\n"
    "P-Asserted-Identity: \"CV\" <sip:4155550100@127.0.0.1>\r\n"
    "Content-Length: 0\r\n\r\n\n"
    "----------------------------------------------- 2026-01-02 03:04:05.750000\n"
    "UDP message received [500] bytes :\n\n"
    "INVITE sip:15551230001@127.0.0.1:5070 SIP/2.0\r\n"
    "Call-ID: abc\r\nCSeq: 7 INVITE\r\n\r\n\n")


def test_invites_are_read_from_the_sipp_trace(tmp_path):
    trace = tmp_path / "messages.log"
    trace.write_text(SIPP_TRACE)
    (invite,) = invites_from(parse_messages(trace))
    assert (invite.request_user, invite.from_user, invite.pai_user) == (
        "15551230001", "4155550100", "4155550100")
    assert invite.from_name == "CV" and invite.copies == 2
    assert invite.time % 1 == pytest.approx(0.25)


def test_scenario_events_are_read_from_the_log(tmp_path):
    log = tmp_path / "events.log"
    log.write_text("EVENT PLAY 1-2@127.0.0.1 1700000000.000000 250000.000000\nEVENT BYE_")
    (event,) = parse_events(log)
    assert (event.name, event.call_id) == ("PLAY", "1-2@127.0.0.1")
    assert event.time == pytest.approx(1700000000.25)


def test_a_stopped_phone_knows_which_calls_it_must_still_end():
    def msg(direction, text):
        return SipMessage(0.0, direction, text.replace("|", "\n"))
    invite = "INVITE sip:1@h SIP/2.0|Call-ID: {c}|CSeq: 1 INVITE|From: <sip:a@h>;tag=x|"
    answered = [msg("received", invite.format(c="a")),
                msg("sent", "SIP/2.0 200 OK|Call-ID: a|CSeq: 1 INVITE|To: <sip:1@h>;tag=t|"),
                msg("received", "ACK sip:p SIP/2.0|Call-ID: a|CSeq: 1 ACK|")]
    ringing = [msg("received", invite.format(c="r")),
               msg("sent", "SIP/2.0 180 Ringing|Call-ID: r|CSeq: 1 INVITE|To: <sip:1@h>;tag=t|")]
    over = [msg("received", invite.format(c="o")),
            msg("sent", "SIP/2.0 486 Busy Here|Call-ID: o|CSeq: 1 INVITE|To: <sip:1@h>;tag=t|")]
    hung_up = answered + [msg("received", "BYE sip:p SIP/2.0|Call-ID: a|CSeq: 2 BYE|")]

    left = unfinished_calls(answered + ringing + over)
    assert {cid: c["final"] for cid, c in left.items()} == {"a": 200, "r": None}
    assert unfinished_calls(hung_up) == {}
