"""Starting and stopping the parts of callverify in one process."""
from __future__ import annotations

import asyncio
import logging
import signal

from redis.asyncio import Redis

from engine import loop as event_loop
from engine.ari.client import AriClient
from engine.delivery import Deliverer
from engine.flows.call import EVENTS_READ
from engine.priority import apply_cpu_nice
from engine.settings import Settings
from engine.store import Store
from engine.worker import Engine

log = logging.getLogger(__name__)
ALL = frozenset({"api", "engine", "delivery"})


class Service:
    """api, engine and delivery; any subset, started and stopped in order."""

    def __init__(self, settings: Settings, components=ALL) -> None:
        unknown = set(components) - ALL
        if unknown:
            raise ValueError(f"unknown components: {', '.join(sorted(unknown))}")
        self.settings = settings
        self.components = frozenset(components)
        self.redis: Redis | None = None
        self.store: Store | None = None
        self.ari: AriClient | None = None
        self.engine: Engine | None = None
        self.deliverer: Deliverer | None = None
        self._runner = None
        self._tasks: dict[str, asyncio.Task] = {}

    async def start(self) -> None:
        s = self.settings
        self.redis = Redis.from_url(s.redis_url, max_connections=200)
        self.store = Store(self.redis, s.code_key)
        loop = asyncio.get_running_loop()
        if "delivery" in self.components:
            self.deliverer = Deliverer(self.redis, timeout=s.callback_timeout,
                                       backoff_base=s.delivery_backoff_base,
                                       backoff_max=s.delivery_backoff_max,
                                       give_up_seconds=s.delivery_give_up_seconds)
            self._tasks["delivery"] = loop.create_task(self.deliverer.run())
        if "engine" in self.components:
            self.ari = AriClient(s.ari_url, s.ari_user, s.ari_password, s.ari_app,
                                 events=EVENTS_READ)
            # With a deliverer here, the engine hands it the callbacks directly.
            self.engine = Engine(s, self.redis, self.store, self.ari, courier=self.deliverer)
            # Do not hold the API back while Asterisk is away: the engine waits
            # for ARI before taking jobs, and the queue keeps them meanwhile.
            await self.ari.start(wait=2.0)
            self._tasks["engine"] = loop.create_task(self.engine.run())
        if "api" in self.components:
            from api.app import start_api
            self._runner = await start_api(s)
        log.info("callverify started: %s", ", ".join(sorted(self.components)))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking work, let calls in progress end (up to `grace` s), then close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.engine is not None:
            self.engine.stop_taking()
        if self.deliverer is not None:
            self.deliverer.stop()
        if self._tasks:
            # The loops return by themselves; cancelling is the last resort.
            _, late = await asyncio.wait(set(self._tasks.values()), timeout=15)
            for task in late:
                log.warning("a service loop did not stop in time; cancelling it")
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        self._tasks.clear()
        if self.engine is not None:
            await self.engine.drain(grace)
        if self.ari is not None:
            await self.ari.stop()
        if self.redis is not None:
            try:
                await asyncio.wait_for(self.redis.aclose(), 5)
            except TimeoutError:
                log.warning("Redis connections did not close in 5 s")

    async def __aenter__(self) -> "Service":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()


async def serve_forever(settings: Settings, components) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Service(settings, components):
        event_loop.freeze_start_up_heap()
        await stop.wait()
        log.info("stopping")


def run_service(settings: Settings, components) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if "engine" in components:  # the calls' set-ups and verdicts wait on this loop
        apply_cpu_nice(settings.cpu_nice)
    event_loop.run(serve_forever(settings, components), settings.event_loop)
