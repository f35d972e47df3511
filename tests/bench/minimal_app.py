"""The smallest aiohttp server answering like the front door: "0", text/plain.

    python -m tests.bench.minimal_app PORT

The front-door figure is read against this one, measured in the same run.
"""
from __future__ import annotations

import sys

from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    return web.Response(text="0", content_type="text/plain")


def main(port: int) -> None:
    app = web.Application()
    app.router.add_get("/api/reverse_verify/", accept)
    app.router.add_get("/healthz", accept)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
