"""The composition root: the one place that starts callverify's parts.

`callverify run`, `api`, `engine` and `deliver` (api/cli.py), each worker of
`api --workers N`, and the tests all start a `Service`. It opens the process's
one Redis client and Store, and starts each part it runs as an async context
manager, in order; stopping unwinds them in the reverse order, and a part that
fails to start stops the parts started before it:

1. Redis and the Store: closed last, once nothing uses them.
2. The engine's ARI connection: on stop, the calls in progress end (up to the
   stop's grace) before it closes.
3. The engine's and the deliverer's loops, one part for both: on stop, both
   are asked to stop taking work and are awaited together, before the calls
   in progress are drained (those calls' callbacks then stay queued for
   whichever deliverer runs next, not handed to this stopping one).
4. /metrics, on its own listener (api/metrics_listener.py).
5. The HTTP API: on stop, it stops first, so no new work arrives while the
   other parts stop.

This module sits above engine/ and api/app.py and imports both; nothing in
engine/ imports api/.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from redis.asyncio import Redis

from api.app import serving
from api.metrics_listener import serving_metrics, shared_metrics
from api.redis_client import REDIS_DOWN, connect_redis
from api.redis_persistence import warn_if_not_persistent
from engine import loop as event_loop
from engine.ari.client import AriClient
from engine.delivery import Deliverer
from engine.flows.call import EVENTS_READ
from engine.priority import apply_cpu_nice
from engine.retention import retention_seconds
from engine.settings import Settings
from engine.store import Store
from engine.worker import Engine

log = logging.getLogger(__name__)
ALL = frozenset({"api", "engine", "delivery"})
LOOPS_STOP_SECONDS = 15
LOOP_RESTART_SECONDS = 1.0
REDIS_CLOSE_SECONDS = 5

# A service loop: its name, its coroutine function, and how to ask it to return.
Loop = tuple[str, Callable[[], Awaitable[None]], Callable[[], None]]


class Service:
    """api, engine and delivery; any subset, on one Redis client, started and
    stopped in order (see the module's docstring)."""

    def __init__(self, settings: Settings, components=ALL, *, reuse_port: bool = False) -> None:
        """`reuse_port`: the API shares its port with other processes (workers)."""
        unknown = set(components) - ALL
        if unknown:
            raise ValueError(f"unknown components: {', '.join(sorted(unknown))}")
        self.settings = settings
        self.components = frozenset(components)
        self.reuse_port = reuse_port
        self.redis: Redis | None = None
        self.store: Store | None = None
        self.ari: AriClient | None = None
        self.engine: Engine | None = None
        self.deliverer: Deliverer | None = None
        self._parts: AsyncExitStack | None = None
        self._grace = 5.0

    async def start(self) -> None:
        """Start the parts in order; if one fails, stop those started and raise."""
        async with AsyncExitStack() as parts:
            redis, store = await parts.enter_async_context(self._redis_store())
            if "delivery" in self.components:
                self.deliverer = self._new_deliverer(redis)
            if "engine" in self.components:
                await parts.enter_async_context(self._calls(redis, store))
            loops = self._loops()
            if loops:
                await parts.enter_async_context(running(loops))
            await parts.enter_async_context(serving_metrics(
                self.settings.metrics_listen, redis, self.engine.health if self.engine else None,
                reuse_port=self.reuse_port))
            if "api" in self.components:
                await parts.enter_async_context(
                    serving(self.settings, store, reuse_port=self.reuse_port))
            self._parts = parts.pop_all()
        log.info("callverify started: %s", ", ".join(sorted(self.components)))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work, let calls in progress end (up to `grace` s), then close."""
        parts, self._parts = self._parts, None
        if parts is not None:
            self._grace = grace
            await parts.aclose()

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @asynccontextmanager
    async def _redis_store(self) -> AsyncIterator[tuple[Redis, Store]]:
        """The process's one Redis client and its Store."""
        self.redis = connect_redis(self.settings.redis_url)
        self.store = Store(self.redis, self.settings.code_key,
                           retention_seconds(self.settings.retention_days))
        try:
            yield self.redis, self.store
        finally:
            try:
                await asyncio.wait_for(self.redis.aclose(), REDIS_CLOSE_SECONDS)
            except TimeoutError:
                log.warning("Redis connections did not close in %d s", REDIS_CLOSE_SECONDS)

    def _new_deliverer(self, redis: Redis) -> Deliverer:
        s = self.settings
        return Deliverer(redis, timeout=s.callback_timeout,
                         backoff_base=s.delivery_backoff_base,
                         backoff_max=s.delivery_backoff_max,
                         give_up_seconds=s.delivery_give_up_seconds,
                         egress_allow=s.egress_allow,
                         retention_seconds=retention_seconds(s.retention_days))

    @asynccontextmanager
    async def _calls(self, redis: Redis, store: Store) -> AsyncIterator[None]:
        """The engine and its ARI connection; on exit the calls in progress end
        (up to the stop's grace: a cut call's job stays pending), then ARI closes."""
        s = self.settings
        self.ari = AriClient(s.ari_url, s.ari_user, s.ari_password, s.ari_app,
                             events=EVENTS_READ)
        # With a deliverer here, the engine hands it the callbacks directly.
        self.engine = Engine(s, redis, store, self.ari, courier=self.deliverer)
        try:
            # Do not hold the API back while Asterisk is away: the engine waits
            # for ARI before taking jobs, and the queue keeps them meanwhile.
            await self.ari.start(wait=2.0)
            yield
        finally:
            await self.engine.drain(self._grace)
            await self.ari.stop()

    def _loops(self) -> list[Loop]:
        """The loops to run: the deliverer's, then the engine's (asked to stop first)."""
        loops: list[Loop] = []
        if self.deliverer is not None:
            loops.append(("delivery", self.deliverer.run, self.deliverer.stop))
        if self.engine is not None:
            loops.append(("engine", self.engine.run, self.engine.stop_taking))
        return loops


@asynccontextmanager
async def running(loops: list[Loop]) -> AsyncIterator[None]:
    """Run each loop as a task (`supervised`); on exit ask each to stop (the
    last started first), then wait for them all.

    The loops return by themselves once asked: cancelling one blocked in a
    Redis read can hang it (redis-py may lose the cancellation), so that is
    the last resort, after LOOPS_STOP_SECONDS.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    tasks = {loop.create_task(supervised(name, run, stopping)) for name, run, _ in loops}
    try:
        yield
    finally:
        stopping.set()
        for _, _, stop in reversed(loops):
            stop()
        _, late = await asyncio.wait(tasks, timeout=LOOPS_STOP_SECONDS)
        for task in late:
            log.warning("a service loop did not stop in time; cancelling it")
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=5)


async def supervised(name: str, run: Callable[[], Awaitable[None]],
                     stopping: asyncio.Event) -> None:
    """`run()` until it returns, started again after a Redis outage ends it.

    The process's Redis client fails fast (api/redis_client.py), so an outage
    ends a loop at its next Redis command: it is started again every
    LOOP_RESTART_SECONDS until Redis answers or the service stops (the
    engine's loop takes its own unfinished jobs back first). Any other failure
    is logged at once and ends the loop.
    """
    while True:
        try:
            return await run()
        except REDIS_DOWN as exc:
            log.warning("%s loop: Redis not reachable (%s); starting it again",
                        name, type(exc).__name__)
        except Exception:
            log.exception("%s loop failed", name)
            return
        try:
            await asyncio.wait_for(stopping.wait(), LOOP_RESTART_SECONDS)
            return
        except TimeoutError:
            pass


async def serve(settings: Settings, components, *, reuse_port: bool = False,
                check_redis: bool = True) -> None:
    """Run a Service of `components` until SIGINT or SIGTERM, then stop it.
    With `check_redis`, warn if its Redis keeps no data across a restart
    (api/redis_persistence.py), without holding the start back."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with Service(settings, components, reuse_port=reuse_port) as service:
        event_loop.freeze_start_up_heap()
        checking = (loop.create_task(warn_if_not_persistent(service.redis, settings.redis_url))
                    if check_redis and service.redis is not None else None)
        await stopping.wait()
        log.info("stopping")
        if checking is not None:
            checking.cancel()


def run(settings: Settings, components, workers: int = 1) -> int:
    """Serve `components` on the configured event loop until SIGINT or SIGTERM;
    the exit status. With `workers` > 1 (the API alone), that many processes
    share the API's port, each with its own Service (api/workers.py)."""
    if workers > 1 and set(components) != {"api"}:
        raise ValueError("--workers runs the API alone, not the engine or delivery")
    if "engine" in components:  # the calls' set-ups and verdicts wait on this loop
        apply_cpu_nice(settings.cpu_nice)

    def serve_here(worker: int = 0) -> None:
        # One warning about Redis for the service, not one per worker.
        event_loop.run(serve(settings, components, reuse_port=workers > 1,
                             check_redis=worker == 0), settings.event_loop)

    if workers > 1:
        from api.workers import run_workers

        with shared_metrics(settings.metrics_listen):  # one /metrics for all the workers
            return run_workers(workers, serve_here)
    serve_here()
    return 0
