"""One outbound call as a linear sequence: place, play, hear digits, hang up.

A `Call` reads its own ordered event queue. A hang-up from the far end (or a
lost channel) raises `CallEnded`, which unwinds the flow; the outcome fields
are filled either way.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import overload

from engine.ari.client import AriClient
from engine.ari.rest import AriError

ORIGINATE_TRIES = 3
HANGUP_EVENTS = ("ChannelHangupRequest", "ChannelDestroyed", "StasisEnd")
# Dial states that mean the phone is alerted: 180 Ringing, or 183 with early media.
ALERTING = ("RINGING", "PROGRESS")
# The event types a Call needs; Asterisk is asked to send no other (each one
# costs Asterisk a JSON snapshot and us a decode and a wake-up). ChannelDestroyed
# carries the same cause and SIP status as the ChannelHangupRequest before it;
# the other two hang-up events are read only if an Asterisk without event
# filters sends them.
EVENTS_READ = ("StasisStart", "ChannelDtmfReceived", "PlaybackFinished", "Dial",
               "ChannelDestroyed")


@dataclass(frozen=True)
class DialPlan:
    """How to reach a number and how long to let it ring or talk."""

    endpoint: str
    caller_id: str
    ring_timeout: float
    call_cap_seconds: int
    app_args: str = ""

    def variables(self) -> dict:
        # Asterisk hangs up by itself at the cap, so no call outlives a dead engine.
        return {"TIMEOUT(absolute)": str(self.call_cap_seconds)}


class CallEnded(Exception):
    """The channel is gone (far end hung up, or Asterisk lost it)."""


@dataclass
class CallRecord:
    """What the signalling told us about one call."""

    channel_id: str
    placed_at: float = 0.0
    ringing_at: float = 0.0
    answered_at: float = 0.0
    ended_at: float = 0.0
    cause: int = 0
    cause_txt: str = ""
    sip_status: int = 0
    forwarded_to: str = ""
    # Whether Asterisk set a redirecting number (from a 181, with Diversion,
    # History-Info or neither, or from a 3xx), as every channel snapshot
    # carries it; None while snapshots have not said (an older Asterisk never says).
    redirected: bool | None = None
    originate_error: str = ""
    hung_up_by: str = ""

    @property
    def answered(self) -> bool:
        return self.answered_at > 0

    @property
    def forwarded(self) -> bool:
        """The signalling said the call was forwarded (so far)."""
        return bool(self.redirected or self.forwarded_to)


class Call:
    """Protocol-level call control for one channel."""

    def __init__(self, ari: AriClient, channel_id: str) -> None:
        self.ari = ari
        self.record = CallRecord(channel_id)
        self.digits: deque[str] = deque()
        self._events = ari.listen(channel_id)
        self._ended = False
        self._playbacks = 0
        self.originated = False
        # Told once how long the set-up took (placed -> ringing, answered or ended).
        self.on_set_up: Callable[[float], None] | None = None

    @property
    def channel_id(self) -> str:
        return self.record.channel_id

    async def place(self, *, endpoint: str, caller_id: str, ring_timeout: float,
                    app_args: str = "", variables: dict | None = None,
                    on_ringing: Callable[[], Awaitable[None]] | None = None) -> bool:
        """Originate and wait until the call is answered (True) or fails (False).

        ARI unreachable or answering 5xx is retried twice (1 s, then 2 s); a
        409 on a retry means the earlier request did create our channel.
        """
        self.record.placed_at = time.time()
        for attempt in range(ORIGINATE_TRIES):
            try:
                await self.ari.rest.originate(
                    endpoint=endpoint, app=self.ari.app, channel_id=self.channel_id,
                    app_args=app_args, caller_id=caller_id, timeout=ring_timeout,
                    variables=variables)
                break
            except AriError as exc:
                if attempt and exc.status == 409:
                    break
                transient = exc.status == 0 or exc.status >= 500
                if not transient or attempt == ORIGINATE_TRIES - 1:
                    self.record.originate_error = str(exc)
                    self._mark_ended()
                    return False
                await asyncio.sleep(2 ** attempt)
        self.originated = True
        # Asterisk enforces the ring timeout; our own limit only guards lost events.
        deadline = time.monotonic() + ring_timeout + 15
        try:
            while True:
                event = await self.next_event(deadline - time.monotonic())
                if event is None:
                    self.record.originate_error = "no answer or failure reported"
                    await self.hang_up()
                    return False
                if event["type"] == "StasisStart":
                    self.record.answered_at = time.time()
                    self._set_up()
                    return True
                if on_ringing is not None and self.record.ringing_at:
                    await on_ringing()
                    on_ringing = None
        except CallEnded:
            return False

    async def dial(self, plan: DialPlan,
                   on_ringing: Callable[[], Awaitable[None]] | None = None) -> bool:
        """`place` the call the plan describes."""
        return await self.place(endpoint=plan.endpoint, caller_id=plan.caller_id,
                                ring_timeout=plan.ring_timeout, app_args=plan.app_args,
                                variables=plan.variables(), on_ringing=on_ringing)

    @overload
    async def next_event(self, timeout: None) -> dict: ...
    @overload
    async def next_event(self, timeout: float) -> dict | None: ...

    async def next_event(self, timeout: float | None) -> dict | None:
        """The channel's next event, or None after `timeout` seconds (with
        `timeout` None it waits for the event: never None, as the overloads say).

        Digits are kept in `self.digits`; hang-up events raise `CallEnded`.
        """
        if self._ended:
            raise CallEnded(self.channel_id)
        event = await self._events.get(timeout)
        if event is not None:
            self._note(event)
        return event

    def _note(self, event: dict) -> None:
        kind = event.get("type", "")
        if kind == "ChannelDtmfReceived":
            self.digits.append(event.get("digit", ""))
            return
        self._note_redirecting(event.get("peer") if kind == "Dial" else event.get("channel"))
        if kind == "Dial" and (event.get("dialstatus") or event.get("forward")):
            self.record.forwarded_to = event.get("forward") or self.record.forwarded_to
            if event.get("dialstatus") in ALERTING and not self.record.ringing_at:
                self.record.ringing_at = time.time()
                self._set_up()
        elif kind in HANGUP_EVENTS:
            if event.get("cause") and not self.record.cause:
                self.record.cause = int(event["cause"])
                self.record.cause_txt = event.get("cause_txt", "")
            if event.get("tech_cause") and not self.record.sip_status:
                self.record.sip_status = int(event["tech_cause"])
            if not self.record.hung_up_by:
                self.record.hung_up_by = "far end"
            self._mark_ended()
            raise CallEnded(self.channel_id)

    def _note_redirecting(self, snapshot: dict | None) -> None:
        if snapshot and "caller_rdnis" in snapshot and not self.record.redirected:
            self.record.redirected = bool(snapshot["caller_rdnis"])

    async def play(self, media: list[str], *, interruptible: bool = True,
                   lang: str | None = None) -> bool:
        """Play prompts to the end; a digit stops them when interruptible.
        `lang`: the language whose recordings `sound:` media play in (None:
        the channel's own, English).

        Returns True if a digit interrupted the prompt (the digit stays in
        `self.digits` for the next read).
        """
        if interruptible and self.digits:
            return True
        self._playbacks += 1
        playback_id = f"{self.channel_id}-p{self._playbacks}"
        # `lang` only when one is asked for: an English play request is as it always was.
        language = {"lang": lang} if lang else {}
        try:
            await self.ari.rest.play(self.channel_id, media, playback_id, **language)
        except AriError as exc:
            if exc.status == 404:
                self._mark_ended()
                raise CallEnded(self.channel_id) from exc
            raise
        while True:
            event = await self.next_event(None)
            kind = event["type"]
            if kind == "PlaybackFinished" and event["playback"]["id"] == playback_id:
                return False
            if kind == "ChannelDtmfReceived" and interruptible:
                await self.ari.rest.stop_playback(playback_id)
                return True

    async def hang_up(self, reason: str = "normal") -> None:
        """Hang up from our side (idempotent: an ended call stays ended)."""
        if self._ended:
            return
        if not self.record.hung_up_by:
            self.record.hung_up_by = "us"
        if not self.record.cause:
            # Our own clearing is normal; Asterisk's event saying so comes after we stop reading.
            self.record.cause, self.record.cause_txt = 16, "Normal Clearing"
        try:
            await self.ari.rest.hang_up(self.channel_id, reason)
        finally:
            self._mark_ended()

    def close(self) -> None:
        self.ari.forget(self.channel_id)

    def _set_up(self) -> None:
        report, self.on_set_up = self.on_set_up, None
        if report is not None:
            report(time.time() - self.record.placed_at)

    def _mark_ended(self) -> None:
        self._ended = True
        if not self.record.ended_at:
            self.record.ended_at = time.time()
        if self.record.placed_at:  # a failed set-up ends here
            self._set_up()

