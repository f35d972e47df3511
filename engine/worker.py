"""The engine: takes queued verifications, runs one call coroutine each.

Channel ids are `<app>.<verification id>`, so after an ARI reconnect (or a
restart) every channel of ours on Asterisk maps back to its verification.
"""
from __future__ import annotations

import asyncio
import logging
import time

from redis.asyncio import Redis

from engine import registry
from engine.admission import Admission, Place
from engine.ari.client import AriClient
from engine.delivery import Deliverer
from engine.engine_capacity import CapacityReport, StartMeter
from engine.engine_health import HealthReport
from engine.flows.call import Call, CallEnded
from engine.masking import mask_number
from engine.outcome import ENGINE_LOST, CallOutcome
from engine.queue import CallQueue, Job
from engine.records import close_call, give_verdict
from engine.settings import Settings
from engine.store import Store
from engine.verification import Verification

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, settings: Settings, redis: Redis, store: Store, ari: AriClient,
                 courier: Deliverer | None = None) -> None:
        """`courier`: this process's deliverer, which then sends the callbacks itself."""
        self.settings = settings
        self.store = store
        self.courier = courier
        self.ari = ari
        self.queue = CallQueue(redis, settings.consumer_name)
        self.starts = StartMeter()
        self.capacity_report = CapacityReport(redis, settings.consumer_name)
        self.health_report = HealthReport(redis, settings.consumer_name)
        self.calls: dict[str, Call] = {}
        self._slots = asyncio.Semaphore(settings.max_concurrent_calls)
        self.admission = Admission(settings.max_concurrent_calls)
        self._tasks: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        ari.on_connect(self.reconcile)

    def channel_id(self, verification_id: str) -> str:
        return f"{self.ari.app}.{verification_id}"

    def verification_of(self, channel_id: str) -> str | None:
        prefix = f"{self.ari.app}."
        return channel_id[len(prefix):] if channel_id.startswith(prefix) else None

    def stop_taking(self) -> None:
        """Ask `run` to return; it does within about a second (see `drain`)."""
        self._stopping.set()

    async def run(self) -> None:
        """Take jobs until `stop_taking` (see `drain` for the calls in progress),
        keeping this engine's `capacity` in Redis and its copy of the softphones'
        numbers fresh meanwhile.

        Every wait is short and the loop checks the stop flag, so stopping
        never cancels a blocked Redis read (redis-py can lose a cancellation
        there and hang).
        """
        done_taking = asyncio.Event()
        # The softphones' numbers before the first job, so none goes out the trunk.
        await self.store.phones.refresh()
        loop = asyncio.get_running_loop()
        helpers = [loop.create_task(self.capacity_report.run(self.capacity, done_taking)),
                   loop.create_task(self.store.phones.follow(done_taking)),
                   loop.create_task(self.health_report.run(self.health, self.trunk_exists,
                                                           done_taking))]
        try:
            await self._take_jobs()
        finally:
            done_taking.set()
            await asyncio.wait(helpers, timeout=5)

    async def _take_jobs(self) -> None:
        await self.queue.ensure_group()
        for job in await self.queue.own_pending():
            await self._start(job)
        last_claim = 0.0
        while not self._stopping.is_set():
            await self._slots.acquire()
            self._slots.release()
            # While ARI is unreachable jobs wait in the stream instead of failing.
            if not self.ari.events.connected.is_set():
                await asyncio.sleep(0.2)
                continue
            if time.monotonic() - last_claim > 30:
                last_claim = time.monotonic()
                for job in await self.queue.claim_stale(int(self.settings.claim_idle_seconds * 1000)):
                    await self._start(job)
            # Jobs wait in the stream while Asterisk is slow to set calls up.
            if not await self.admission.wait_for_room(1.0):
                continue
            for job in await self.queue.take(count=min(10, max(1, self.admission.free)),
                                             block_ms=1000):
                await self._start(job)

    def capacity(self) -> tuple[float, int]:
        """(calls started a second lately, call slots free), for the accept
        step's backpressure (engine/engine_capacity.py); nothing while ARI is away."""
        if not self.ari.events.connected.is_set():
            return 0.0, 0
        free = min(self.settings.max_concurrent_calls - len(self._tasks), self.admission.free)
        return self.starts.rate(), free

    def health(self) -> tuple[bool, int]:
        """(ARI connected, calls up), for /readyz and /metrics (engine/engine_health.py)."""
        return self.ari.events.connected.is_set(), len(self.calls)

    async def trunk_exists(self) -> bool:
        """Whether Asterisk has the trunk's PJSIP endpoint (calls to numbers go out there)."""
        return await self.ari.rest.endpoint_state("PJSIP", self.settings.trunk_endpoint) is not None

    async def drain(self, grace: float) -> None:
        """Wait up to `grace` seconds for calls in progress, then cancel them.

        A cancelled call hangs up; its job stays pending and is finished as
        lost by the next engine that takes it.
        """
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)

    async def _start(self, job: Job) -> None:
        await self._slots.acquire()
        task = asyncio.get_running_loop().create_task(self._handle(job, self.admission.start()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, job: Job, place: Place) -> None:
        """Take the job's verification and run its call; `place` is the job's
        place in the admission window, held until the job is done."""
        try:
            channel_id = self.channel_id(job.verification_id)
            verification, not_dialled = await self.store.verifications.take(
                job.verification_id, channel_id,
                accepted_after=time.time() - self.settings.max_queue_seconds)
            # A finished verification acknowledges its job in the same step.
            if verification is None:  # gone
                await self.queue.ack(job)
            elif not_dialled:  # too old to dial, or its account disabled since
                log.info("verification %s: not dialled (%s); refunded", verification.id,
                         not_dialled)
                await self.give_verdict(verification, CallOutcome(failure=not_dialled),
                                        job_id=job.message_id, refund=True)
            elif verification.status == "queued":
                await self._call(job, verification, place)
            elif verification.status == "calling" and channel_id not in self.calls:
                # Taken before a crash: its call may still be up on Asterisk.
                await self.ari.rest.hang_up(channel_id)
                await self.give_verdict(verification, CallOutcome(failure=ENGINE_LOST),
                                        job_id=job.message_id)
            elif verification.status != "calling":  # (calling: the running call acknowledges it)
                await self.queue.ack(job)
        except Exception:
            log.exception("job %s: failed; it stays pending and will be retried", job.message_id)
        finally:
            place.release()
            self._slots.release()

    async def give_verdict(self, verification: Verification, outcome: CallOutcome, *,
                           job_id: str = "", refund: bool = False) -> bool:
        """This engine's verdict step: its callbacks leave from this process's deliverer."""
        return await give_verdict(self.store, verification, outcome, job_id=job_id,
                                  courier=self.courier, refund=refund)

    async def _call(self, job: Job, verification: Verification, place: Place) -> None:
        """The call, its verdict, then (on a call still up) the farewell and the close."""
        vid = verification.id
        flow = registry.flow_named(verification.flow)
        call = Call(self.ari, self.channel_id(vid))
        call.on_set_up = place.set_up
        self.calls[call.channel_id] = call
        self.starts.note_start()
        log.info("verification %s: calling %s (flow %s)", vid, mask_number(verification.e164),
                 flow.NAME)
        try:
            try:
                outcome = await flow.run(call, verification, self.settings, self.store)
            except Exception:
                log.exception("verification %s: flow failed", vid)
                await call.hang_up()
                outcome = CallOutcome.from_call(call.record, ring_timeout=self.settings.ring_timeout)
                outcome.failure = outcome.failure or "flow_error"
            await self.give_verdict(verification, outcome, job_id=job.message_id)
            if not outcome.ended_at:
                try:
                    await flow.farewell(call, verification, self.settings, outcome)
                except CallEnded:
                    pass
                except Exception:
                    log.exception("verification %s: farewell failed", vid)
                finally:
                    await call.hang_up()
                await close_call(self.store, vid, call.record)
        finally:
            try:
                await call.hang_up()  # left up only if a step above raised
            finally:
                self.calls.pop(call.channel_id, None)
                call.close()
        log.info("verification %s: done (answered=%d cause=%s attempts=%d)", vid,
                 outcome.answered, call.record.cause, outcome.attempts)

    async def reconcile(self) -> None:
        """After (re)connecting: end orphaned channels, unblock calls whose channel vanished."""
        channels = {c["id"] for c in await self.ari.rest.channels()}
        for channel_id in channels:
            vid = self.verification_of(channel_id)
            if vid is None or channel_id in self.calls:
                continue
            log.warning("verification %s: orphaned channel hung up", vid)
            await self.ari.rest.hang_up(channel_id)
            verification = await self.store.verifications.get(vid)
            if verification is not None and verification.status == "calling":
                await self.give_verdict(verification, CallOutcome(failure=ENGINE_LOST))
        for channel_id, call in list(self.calls.items()):
            if call.originated and channel_id not in channels:
                self.ari.inject(channel_id, {"type": "ChannelDestroyed", "cause": 0,
                                             "cause_txt": "lost while ARI was disconnected",
                                             "channel": {"id": channel_id}})
