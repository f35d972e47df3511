"""RFC 4733 DTMF as a pcap file that sipp's ``play_pcap_audio`` can replay.

sipp ships one pcap per key, but all of them carry the same RTP timestamp, so
keys replayed back to back reach Asterisk as one long event.  Here every key is
its own event: its own RTP timestamp (taken from the media clock at the key's
start), marker bit on its first packet, an update every 20 ms with a growing
duration, the end packet sent three times, then a gap.  One SSRC and one run of
sequence numbers cover the whole file, and optional PCMU silence fills the
time between keys so the stream looks like a real phone.

What sipp 3.6.1 does with the file (src/send_packets.c, prepare_pcap.c): it
keeps the UDP payload byte for byte (RTP sequence numbers, timestamps, SSRC,
marker and payload type are sent as written), takes the IP addresses from the
call (-mi and the far end's SDP), maps the UDP ports (destination = far end's
SDP port + (packet dport - lowest dport in the file), source = -mp + same
offset), recomputes the UDP checksum, and paces packets by the pcap timestamp
gaps, sending the first packet at once.  Its pacing treats a zero timestamp as
"no previous packet", so the capture must not start at time 0.

Standard library only.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11,
               "A": 12, "B": 13, "C": 14, "D": 15}
KEYS_BY_CODE = {code: key for key, code in EVENT_CODES.items()}

SAMPLES_PER_MS = 8          # 8 kHz clock for PCMU and telephone-event/8000
PACKET_MS = 20
END_REPEATS = 3
PCMU_SILENCE = b"\xff" * (PACKET_MS * SAMPLES_PER_MS)
PCAP_EPOCH = 1_700_000_000  # any non-zero start: see the module docstring

_PCAP_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER = struct.Struct("<IIII")
_RTP_HEADER = struct.Struct("!BBHII")


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet and when (ms after the first packet) it leaves."""
    offset_ms: int
    seq: int
    timestamp: int
    marker: bool
    payload_type: int
    payload: bytes
    ssrc: int

    def to_bytes(self) -> bytes:
        return _RTP_HEADER.pack(0x80, (0x80 if self.marker else 0) | self.payload_type,
                                self.seq, self.timestamp, self.ssrc) + self.payload


@dataclass(frozen=True)
class KeyEvent:
    """A key as the file sends it: first packet at offset_ms, lasting tone_ms."""
    key: str
    offset_ms: int
    tone_ms: int
    rtp_timestamp: int


def event_payload(code: int, end: bool, volume: int, duration: int) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | (volume & 0x3F), duration)


def build_dtmf_stream(keys: str, *, payload_type: int = 101, start_delay_ms: int = 500,
                      tone_ms: int = 120, gap_ms: int = 200, tail_ms: int = 200,
                      pause_ms: int = 1000, silence: bool = True, volume: int = 10,
                      ssrc: int = 0x43564650,
                      first_seq: int = 1000, first_timestamp: int = 16000,
                      ) -> tuple[list[RtpPacket], list[KeyEvent]]:
    """Lay out the packets for ``keys``; nothing is written.

    Offsets (packets and the returned KeyEvents) count from the file's first
    packet, which sipp sends as soon as the play starts.  start_delay_ms is PCMU
    silence before the first key, so it needs ``silence``; without silence the
    first key leaves at once.  Asterisk turns tones shorter than 80 ms or gaps
    under 45 ms into emulated digits (doubled or lost keys): keep tone_ms >= 80.

    Key i starts at start_delay_ms + i * (tone_ms + gap_ms), plus pause_ms for
    each "," before it (a dialer's pause, e.g. "9999#,1234#" for a second try).
    gap_ms counts from the first end packet of a key to the start of the next
    one and must leave room for the two end repeats (40 ms).
    """
    unknown = [k for k in keys if k.upper() not in EVENT_CODES and k != ","]
    if unknown:
        raise ValueError(f"not DTMF keys: {unknown!r}")
    if tone_ms < PACKET_MS or tone_ms % PACKET_MS:
        raise ValueError("tone_ms must be a positive multiple of 20")
    if gap_ms < (END_REPEATS - 1) * PACKET_MS + PACKET_MS:
        raise ValueError("gap_ms must be at least 60 (end repeats need 40 ms)")
    if start_delay_ms < 0 or tail_ms < 0 or pause_ms < 0:
        raise ValueError("delays cannot be negative")

    layout: list[tuple[int, RtpPacket]] = []  # seq filled in below
    busy: list[tuple[int, int]] = []            # spans with no room for voice
    key_events: list[KeyEvent] = []
    start = start_delay_ms
    for key in keys.upper():
        if key == ",":
            start += pause_ms
            continue
        stamp = (first_timestamp + start * SAMPLES_PER_MS) & 0xFFFFFFFF
        key_events.append(KeyEvent(key, start, tone_ms, stamp))
        code = EVENT_CODES[key]
        for i in range(tone_ms // PACKET_MS):
            payload = event_payload(code, False, volume, (i + 1) * PACKET_MS * SAMPLES_PER_MS)
            layout.append((start + i * PACKET_MS,
                           RtpPacket(start + i * PACKET_MS, 0, stamp, i == 0, payload_type,
                                     payload, ssrc)))
        final = event_payload(code, True, volume, tone_ms * SAMPLES_PER_MS)
        for r in range(END_REPEATS):
            ms = start + tone_ms + r * PACKET_MS
            layout.append((ms, RtpPacket(ms, 0, stamp, False, payload_type, final, ssrc)))
        busy.append((start, start + tone_ms + END_REPEATS * PACKET_MS))
        start += tone_ms + gap_ms
    end_ms = (busy[-1][1] if busy else start_delay_ms) + tail_ms

    if silence:
        for ms in range(0, end_ms, PACKET_MS):
            if not any(lo <= ms < hi for lo, hi in busy):
                stamp = (first_timestamp + ms * SAMPLES_PER_MS) & 0xFFFFFFFF
                layout.append((ms, RtpPacket(ms, 0, stamp, False, 0, PCMU_SILENCE, ssrc)))
    layout.sort(key=lambda item: item[0])  # stable: event packets keep their order

    # sipp sends the first packet the moment the play starts, whatever its pcap
    # time, so offsets count from it: without silence there is no lead-in.
    shift = layout[0][0] if layout else 0
    packets = []
    for n, (_, pkt) in enumerate(layout):
        marker = pkt.marker or (n == 0)  # the stream's first packet opens a talkspurt
        packets.append(RtpPacket(pkt.offset_ms - shift, (first_seq + n) & 0xFFFF,
                                 pkt.timestamp, marker, pkt.payload_type, pkt.payload, ssrc))
    key_events = [KeyEvent(k.key, k.offset_ms - shift, k.tone_ms, k.rtp_timestamp)
                  for k in key_events]
    return packets, key_events


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(payload: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    """Ethernet + IPv4 + UDP around an RTP packet, checksums filled in."""
    sip, dip = (bytes(int(p) for p in a.split(".")) for a in (src[0], dst[0]))
    udp_len = 8 + len(payload)
    pseudo = sip + dip + struct.pack("!BBH", 0, 17, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    udp_sum = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", udp_sum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, 0, 0x4000, 64, 17, 0, sip, dip)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + udp


def write_pcap(path: str | Path, packets: Iterable[RtpPacket], *,
               src: tuple[str, int] = ("127.0.0.1", 6000),
               dst: tuple[str, int] = ("127.0.0.1", 10000)) -> Path:
    """Classic libpcap file (microsecond stamps, LINKTYPE_ETHERNET)."""
    path = Path(path)
    out = [_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for pkt in packets:
        frame = _frame(pkt.to_bytes(), src, dst)
        sec, ms = divmod(pkt.offset_ms, 1000)
        out.append(_RECORD_HEADER.pack(PCAP_EPOCH + sec, ms * 1000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path


def write_dtmf_pcap(path: str | Path, keys: str, *, payload_type: int = 101,
                    start_delay_ms: int = 500, tone_ms: int = 120, gap_ms: int = 200,
                    tail_ms: int = 200, pause_ms: int = 1000, silence: bool = True,
                    **stream) -> list[KeyEvent]:
    """Write ``keys`` as RFC 4733 events to ``path``; returns each key's schedule
    (offset from the moment sipp starts playing the file)."""
    packets, events = build_dtmf_stream(keys, payload_type=payload_type,
                                        start_delay_ms=start_delay_ms, tone_ms=tone_ms,
                                        gap_ms=gap_ms, tail_ms=tail_ms, pause_ms=pause_ms,
                                        silence=silence, **stream)
    write_pcap(path, packets)
    return events


# -- reading back (tests, and checking what a capture holds) -------------------

@dataclass(frozen=True)
class CapturedPacket:
    time: float            # pcap timestamp, seconds
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes         # UDP payload
    udp_checksum_ok: bool


def read_pcap(path: str | Path) -> list[CapturedPacket]:
    """UDP/IPv4 packets of an Ethernet (or Linux cooked) classic pcap."""
    data = Path(path).read_bytes()
    magic, _, _, _, _, _, linktype = _PCAP_HEADER.unpack_from(data)
    if magic != 0xA1B2C3D4:
        raise ValueError("not a little-endian microsecond pcap")
    l2 = {1: 14, 113: 16}[linktype]
    out, off = [], _PCAP_HEADER.size
    while off < len(data):
        sec, usec, incl, _ = _RECORD_HEADER.unpack_from(data, off)
        off += _RECORD_HEADER.size
        frame, off = data[off:off + incl], off + incl
        if frame[l2 - 2:l2] != b"\x08\x00":
            continue
        ip = frame[l2:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        sip, dip = ip[12:16], ip[16:20]
        udp = ip[ihl:ihl + struct.unpack_from("!H", ip, ihl + 4)[0]]
        sport, dport, ulen, usum = struct.unpack_from("!HHHH", udp)
        pseudo = sip + dip + struct.pack("!BBH", 0, 17, ulen)
        ok = usum == 0 or _checksum(pseudo + udp) == 0
        out.append(CapturedPacket(sec + usec / 1e6, (".".join(map(str, sip)), sport),
                                  (".".join(map(str, dip)), dport), bytes(udp[8:]), ok))
    return out


@dataclass(frozen=True)
class RtpHeader:
    marker: bool
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    payload: bytes


def parse_rtp(data: bytes) -> RtpHeader:
    b0, b1, seq, stamp, ssrc = _RTP_HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        raise ValueError("not RTP version 2")
    start = 12 + 4 * (b0 & 0x0F)
    return RtpHeader(bool(b1 & 0x80), b1 & 0x7F, seq, stamp, ssrc, bytes(data[start:]))


@dataclass(frozen=True)
class ReceivedEvent:
    """A telephone-event as a receiver keyed on RTP timestamp would see it."""
    key: str
    timestamp: int
    first_time: float
    end_packets: int
    duration: int       # samples, from the end packet (or the last update)
    marker: bool        # was the first packet marked


def decode_events(packets: Iterable[RtpHeader | bytes], payload_type: int = 101,
                  times: Iterable[float] | None = None) -> list[ReceivedEvent]:
    """Group telephone-event packets into events by RTP timestamp, in order."""
    found: dict[int, dict] = {}
    time_iter = iter(times) if times is not None else None
    for raw in packets:
        hdr = parse_rtp(raw) if isinstance(raw, (bytes, bytearray)) else raw
        when = next(time_iter) if time_iter is not None else 0.0
        if hdr.payload_type != payload_type:
            continue
        code, flags, duration = struct.unpack_from("!BBH", hdr.payload)
        ev = found.setdefault(hdr.timestamp, {"key": KEYS_BY_CODE.get(code, "?"), "time": when,
                                              "ends": 0, "duration": 0,
                                              "marker": hdr.marker})
        ev["duration"] = max(ev["duration"], duration)
        if flags & 0x80:
            ev["ends"] += 1
    return [ReceivedEvent(ev["key"], stamp, ev["time"], ev["ends"], ev["duration"], ev["marker"])
            for stamp, ev in found.items()]
