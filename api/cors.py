"""CORS for browser clients of the JSON APIs, limited to settings.cors_origins.

A preflight (OPTIONS) from a listed origin gets 204 and the allow headers; from
any other origin, 403 without them. Actual responses to a listed origin carry
Access-Control-Allow-Origin. Every answer on a CORS path says `Vary: Origin`,
so caches never hand one origin's answer to another.
"""
from __future__ import annotations

from aiohttp import web

from api.appkeys import SETTINGS

CORS_PATHS = web.AppKey("cors_paths", set)
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


@web.middleware
async def cors_headers(request: web.Request, handler) -> web.StreamResponse:
    """Add the CORS answer headers to actual responses on CORS paths."""
    if request.method == "OPTIONS" or request.path not in request.app.get(CORS_PATHS, ()):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _add_headers(request, exc.headers)
        raise
    _add_headers(request, response.headers)
    return response


def _add_headers(request: web.Request, headers) -> None:
    headers["Vary"] = "Origin"
    origin = allowed_origin(request)
    if origin is not None:
        headers["Access-Control-Allow-Origin"] = origin


def enable(app: web.Application, *paths: str) -> None:
    """Serve preflights on `paths` and mark their answers for CORS."""
    app.setdefault(CORS_PATHS, set()).update(paths)
    for path in paths:
        app.router.add_route("OPTIONS", path, preflight)
