"""CORS for browser clients of the JSON APIs, limited to settings.cors_origins.

A preflight (OPTIONS) from a listed origin gets 204 and the allow headers; from
any other origin, 403 without them. Actual responses to a listed origin carry
Access-Control-Allow-Origin. Every answer on a CORS path says `Vary: Origin`,
so caches never hand one origin's answer to another. The headers come from a
wrapper on the path's own handlers (`answering`), so other paths pay nothing.
"""
from __future__ import annotations

import functools

from aiohttp import web

from api.appkeys import SETTINGS

ALLOW_METHODS = "POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Accept, Sec-Fetch-Mode"
MAX_AGE_SECONDS = "600"


def allowed_origin(request: web.Request) -> str | None:
    """The request's Origin if settings.cors_origins lists it, else None."""
    origin = request.headers.get("Origin")
    return origin if origin and origin in request.app[SETTINGS].cors_origins else None


async def preflight(request: web.Request) -> web.Response:
    """Answer a CORS preflight: 204 with the allow headers, or 403."""
    origin = allowed_origin(request)
    if origin is None:
        return web.Response(status=403, text="origin not allowed\n", headers={"Vary": "Origin"})
    return web.Response(status=204, headers={
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": MAX_AGE_SECONDS,
        "Vary": "Origin"})


def answering(handler):
    """`handler` whose answers (and HTTP errors) carry the CORS answer headers."""
    @functools.wraps(handler)
    async def with_cors_headers(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _add_headers(request, exc.headers)
            raise
        _add_headers(request, response.headers)
        return response
    return with_cors_headers


def _add_headers(request: web.Request, headers) -> None:
    headers["Vary"] = "Origin"
    origin = allowed_origin(request)
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin
        # A 429's wait, readable by the page's script (not a safelisted header).
        headers["Access-Control-Expose-Headers"] = "Retry-After"


def enable(app: web.Application, path: str, wrap=lambda handler: handler) -> None:
    """Serve preflights on `path` (its other routes are added already), and
    answer any other method there 405 with the CORS headers too."""
    allowed = sorted({route.method for resource in app.router.resources()
                      if resource.canonical == path for route in resource} | {"OPTIONS"})

    async def method_not_allowed(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    app.router.add_route("OPTIONS", path, wrap(preflight))
    app.router.add_route("*", path, answering(method_not_allowed))
