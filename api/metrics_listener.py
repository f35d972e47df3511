"""/metrics, in Prometheus's text format, on a listener of its own.

CALLVERIFY_METRICS_LISTEN (default 127.0.0.1:9108; `off` or empty: none) is
never the public API's listener, so the public port does not serve it: an
operator who wants it reachable from elsewhere sets this address (and keeps
it behind a firewall). Each process that runs a Service (`callverify run`,
`api`, `engine`, `deliver`) serves its own: its counters and histograms
(engine/metrics.py), its engine's state, and the gauges read from Redis at
the scrape (engine/metrics_snapshot.py).

A taken port does not stop the process: calls matter more than their
metrics. It is logged, naming the setting, and the process runs without
/metrics (two processes on one host each need their own address).

`api --workers N`: the workers share one directory of values
(prometheus-client's multiprocess mode, `shared_metrics`) and all listen on
the one address (SO_REUSEPORT); whichever the kernel hands a scrape to
answers the sum of all the workers' counts.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from redis.asyncio import Redis

from engine.metrics import declare, share_between_processes, shared_directory
from engine.metrics_snapshot import LocalEngine, read_gauges

log = logging.getLogger(__name__)
PATH = "/metrics"
OFF = ("", "off")


def metrics_address(listen: str) -> tuple[str, int] | None:
    """CALLVERIFY_METRICS_LISTEN as (host, port); None when off."""
    if listen.strip().lower() in OFF:
        return None
    host, _, port = listen.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port)


class Gauges:
    """A scrape's gauges, read beforehand, as a registry `generate_latest` takes."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class Scrape:
    """What one /metrics answer holds: this process's counters (or, in
    multiprocess mode, every worker's) and the gauges read now."""

    def __init__(self, redis: Redis, local: LocalEngine | None = None) -> None:
        self.redis = redis
        self.local = local
        declare()
        directory = shared_directory()
        if directory is None:
            self.registry = REGISTRY  # with the process's CPU, memory and GC
        else:
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry, path=directory)

    async def text(self) -> bytes:
        gauges = Gauges(await read_gauges(self.redis, self.local))
        return generate_latest(self.registry) + generate_latest(gauges)


def metrics_app(scrape: Scrape) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        try:
            body = await scrape.text()
        except Exception as exc:  # a scrape answers, whatever failed
            log.error("/metrics: unexpected %s", type(exc).__name__)
            return web.Response(status=503, text="metrics unavailable\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get(PATH, metrics)
    return app


@asynccontextmanager
async def serving_metrics(listen: str, redis: Redis, local: LocalEngine | None = None, *,
                          reuse_port: bool = False) -> AsyncIterator[web.AppRunner | None]:
    """Serve /metrics on `listen` until exit; None (and a warning) when the
    address cannot be had, and None when it is off."""
    address = metrics_address(listen)
    if address is None:
        yield None
        return
    runner = web.AppRunner(metrics_app(Scrape(redis, local)), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, *address, reuse_port=reuse_port or None).start()
        except OSError as exc:
            log.warning("/metrics not served: CALLVERIFY_METRICS_LISTEN=%s cannot be listened "
                        "on (%s); give each process on this host its own address, or off",
                        listen, exc.strerror or type(exc).__name__)
            yield None
            return
        log.info("metrics on http://%s:%d%s", *address, PATH)
        yield runner
    finally:
        await runner.cleanup()


@contextmanager
def shared_metrics(listen: str) -> Iterator[None]:
    """Around forking API workers: their values in one directory (the
    operator's PROMETHEUS_MULTIPROC_DIR, emptied, or a new one removed after)."""
    if metrics_address(listen) is None:
        yield
        return
    given = shared_directory()
    directory = given or tempfile.mkdtemp(prefix="callverify-metrics-")
    for name in os.listdir(directory):
        if name.endswith(".db"):  # a previous run's counts
            os.unlink(os.path.join(directory, name))
    share_between_processes(directory)
    try:
        yield
    finally:
        if given is None:
            shutil.rmtree(directory, ignore_errors=True)
