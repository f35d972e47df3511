"""The engine's part in a /v1 verification's life after it was created:
each call's progress (engine/v1_progress.py), hanging up a call its client
canceled (engine/v1_cancel.py), and the expiry sweep (engine/v1_expiry.py).

engine/worker.py holds one `V1Calls` and hands it the /v1 calls only; the
seed APIs' calls never meet it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine

from engine.delivery import Deliverer
from engine.flows.call import Call
from engine.keys import verification_key
from engine.outcome import CANCELED, CallOutcome
from engine.settings import Settings
from engine.store import Store
from engine.v1_cancel import follow_cancels
from engine.v1_expiry import ExpirySweep
from engine.v1_progress import Progress
from engine.verification import Verification

log = logging.getLogger(__name__)


class V1Calls:
    def __init__(self, store: Store, settings: Settings, calls: dict[str, Call],
                 channel_id: Callable[[str], str], courier: Deliverer | None = None) -> None:
        """`calls`: the engine's calls by channel id; `channel_id`: a verification's channel."""
        self.store = store
        self.calls = calls
        self.channel_id = channel_id
        self.progress = Progress(store, settings.max_checks, courier)
        self.sweep = ExpirySweep(store, settings.max_checks)
        self.canceled: set[str] = set()  # channel ids hung up on a cancel

    def watch(self, call: Call, verification: Verification) -> None:
        """Report the call's progress; hang up if the verification ended meanwhile."""
        async def progressed(stage: str) -> None:
            try:
                final = await self.progress.report(verification, stage)
            except Exception as exc:  # Redis away: the call goes on, its verdict says the rest
                log.warning("verification %s: progress %s not stored (%s)", verification.id,
                            stage, type(exc).__name__)
                return
            if final == CANCELED:
                await self.hang_up(verification.id)
        call.on_progress = progressed

    async def hang_up(self, verification_id: str) -> None:
        """Hang up the verification's call if this engine runs it (a cancel)."""
        call = self.calls.get(self.channel_id(verification_id))
        if call is None:
            return
        log.info("verification %s: canceled; hanging up", verification_id)
        self.canceled.add(call.channel_id)
        try:
            await call.hang_up()
        except Exception as exc:  # the call's own end follows (Asterisk's cap at worst)
            log.warning("verification %s: hang-up on cancel failed (%s)", verification_id,
                        type(exc).__name__)

    async def look_again(self) -> None:
        """Hang up the calls whose verification was canceled while no message could arrive."""
        running = [(channel, vid) for channel in list(self.calls)
                   if (vid := channel.rpartition(".")[2])]
        if not running:
            return
        async with self.store.redis.pipeline(transaction=False) as pipe:
            for _, vid in running:
                pipe.hget(verification_key(vid), "final")
            finals = await pipe.execute()
        for (_, vid), final in zip(running, finals, strict=True):
            if final in (CANCELED, CANCELED.encode()):
                await self.hang_up(vid)

    def outcome(self, call: Call, outcome: CallOutcome) -> CallOutcome:
        """A call hung up on a cancel ended as canceled."""
        if call.channel_id in self.canceled:
            self.canceled.discard(call.channel_id)
            outcome.failure = CANCELED
        return outcome

    def tasks(self, done: asyncio.Event) -> list[Coroutine]:
        """What runs beside the engine until `done`: the cancels it follows, the sweep."""
        return [follow_cancels(self.store.redis, self.hang_up, self.look_again, done),
                self.sweep.run(done)]
