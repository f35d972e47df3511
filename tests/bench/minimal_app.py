"""The smallest aiohttp server answering like the front door: "0", text/plain
for the seed's GET, 201 JSON for POST /v1/verifications.

    python -m tests.bench.minimal_app PORT [WORKERS]

The front-door figure is read against this one, measured in the same run, on
the same event loop (engine.loop) and with as many worker processes.
"""
from __future__ import annotations

import asyncio
import sys

from aiohttp import web

from api.workers import run_workers
from engine import loop


async def accept(request: web.Request) -> web.Response:
    return web.Response(text="0", content_type="text/plain")


async def create(request: web.Request) -> web.Response:
    """The minimal counterpart of POST /v1/verifications: read the JSON body, answer 201 JSON."""
    body = await request.json()
    return web.json_response({"id": "0", "phone": body.get("phone")}, status=201)


async def serve(port: int, reuse_port: bool) -> None:
    app = web.Application()
    app.router.add_get("/api/reverse_verify/", accept)
    app.router.add_post("/v1/verifications", create)
    app.router.add_get("/healthz", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port or None).start()
    await asyncio.Event().wait()  # until SIGTERM


def main(port: int, workers: int = 1) -> int:
    if workers > 1:
        return run_workers(workers, lambda _worker: loop.run(serve(port, True)))
    loop.run(serve(port, False))
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:3])))
