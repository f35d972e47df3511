"""/livez and /readyz, beside /healthz (api/app.py), on the public listener.

- /livez: 200 "ok" while the process serves; it reads nothing.
- /readyz: 200 "ok" when Redis answers and some engine can place calls: it
  is connected to ARI and its Asterisk has the trunk endpoint
  (CALLVERIFY_TRUNK_ENDPOINT). Otherwise 503, text naming the first part
  that fails: "not ready: redis not answering", "not ready: ari not
  connected", "not ready: trunk endpoint trunk not found".

The API learns the engines' state from their heartbeat in Redis
(engine/engine_health.py), the same whether an engine runs in this process
(`callverify run`) or elsewhere (`callverify api`): an engine that stopped
or cannot write counts as gone within seconds.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from api.appkeys import SETTINGS, STORE
from api.redis_client import REDIS_DOWN
from engine.engine_health import engines_health, not_ready

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def text(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/plain")


async def livez(request: web.Request) -> web.Response:
    return text(200, "ok")


async def readyz(request: web.Request) -> web.Response:
    try:
        engines = await engines_health(request.app[STORE].redis)
    except REDIS_DOWN:
        return text(503, "not ready: redis not answering\n")
    problem = not_ready(engines, request.app[SETTINGS].trunk_endpoint)
    return text(503, f"not ready: {problem}\n") if problem else text(200, "ok")


def add_routes(app: web.Application, guard: Callable[[Handler], Handler]) -> None:
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", guard(readyz))
