"""The order in which the Service starts and stops its parts, with stand-ins
for Redis, ARI, the engine, the deliverer and the HTTP API."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from api import service as service_module
from api.service import Service
from engine.settings import Settings


class Steps(list):
    def loop(self, name: str):
        """A stand-in service loop: runs until asked to stop."""
        stopped = asyncio.Event()

        async def run() -> None:
            self.append(f"{name} runs")
            await stopped.wait()
            self.append(f"{name} returned")

        def stop() -> None:
            self.append(f"{name} asked to stop")
            stopped.set()
        return run, stop


@pytest.fixture
def steps(monkeypatch) -> Steps:
    steps = Steps()

    class Redis:
        async def aclose(self) -> None:
            steps.append("redis closed")

    class Ari:
        def __init__(self, *args, **kwargs) -> None:
            pass

        async def start(self, wait: float) -> None:
            steps.append("ari started")

        async def stop(self) -> None:
            steps.append("ari stopped")

    class Engine:
        def __init__(self, settings, redis, store, ari, courier=None) -> None:
            self.courier = courier
            self.run, self.stop_taking = steps.loop("engine")

        async def drain(self, grace: float) -> None:
            steps.append(f"calls drained ({grace} s)")

        def health(self) -> tuple[bool, int]:
            return True, 0

    class Deliverer:
        def __init__(self, redis, **kwargs) -> None:
            self.run, self.stop = steps.loop("deliverer")

    @asynccontextmanager
    async def serving(settings, store, *, reuse_port: bool = False):
        steps.append("api serving")
        yield
        steps.append("api stopped")

    @asynccontextmanager
    async def serving_metrics(listen, redis, local, *, reuse_port: bool = False):
        steps.append(f"metrics serving ({'engine' if local else 'no engine'})")
        yield
        steps.append("metrics stopped")

    monkeypatch.setattr(service_module, "serving_metrics", serving_metrics)
    monkeypatch.setattr(service_module, "connect_redis", lambda url: Redis())
    monkeypatch.setattr(service_module, "Store", lambda redis, code_key, retention_seconds: object())
    monkeypatch.setattr(service_module, "AriClient", Ari)
    monkeypatch.setattr(service_module, "Engine", Engine)
    monkeypatch.setattr(service_module, "Deliverer", Deliverer)
    monkeypatch.setattr(service_module, "serving", serving)
    return steps


async def test_parts_start_in_order_and_stop_in_the_order_the_service_always_had(steps):
    service = Service(Settings())
    await service.start()
    await asyncio.sleep(0)  # the loops' first turn
    assert service.engine.courier is service.deliverer
    assert steps == ["ari started", "metrics serving (engine)", "api serving", "deliverer runs",
                     "engine runs"]
    steps.clear()
    await service.stop(grace=0)
    assert steps[:4] == ["api stopped", "metrics stopped", "engine asked to stop",
                         "deliverer asked to stop"]
    assert set(steps[4:6]) == {"deliverer returned", "engine returned"}  # awaited together
    assert steps[6:] == ["calls drained (0 s)", "ari stopped", "redis closed"]


async def test_a_part_that_fails_to_start_stops_the_parts_before_it(steps, monkeypatch):
    @asynccontextmanager
    async def port_taken(settings, store, *, reuse_port: bool = False):
        raise OSError("address already in use")
        yield

    monkeypatch.setattr(service_module, "serving", port_taken)
    with pytest.raises(OSError):
        await Service(Settings()).start()
    assert steps[-3:] == ["calls drained (5.0 s)", "ari stopped", "redis closed"]
    assert "engine returned" in steps and "deliverer returned" in steps
