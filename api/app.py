"""The HTTP front: app factory, failure guard, health check and server start.

The app serves on the Store (and so the Redis client) of the Service that runs
it (api/service.py); its own cleanup context owns only the progress watch, so
the app opens no Redis client of its own. A failure never surfaces as a 500: Redis being
unreachable, or any unexpected error, is answered 503 text/plain (JSON on the
JSON APIs). Every route's handler is wrapped in that guard where it is added,
not by an app-wide middleware: aiohttp runs each middleware as an extra
coroutine layer on every request, routes that need no guard included. The
guard also bounds the wait for a request body (api/connections.py: 408).
"""
from __future__ import annotations

import functools
import logging
import ssl
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

from api import (
    cors,
    destinations,
    docs_page,
    health,
    password_call,
    reverse_verify,
    v1_actions,
    v1_verifications,
)
from api.appkeys import LIMITS, PROGRESS, SETTINGS, STORE
from api.client_limits import ClientLimits
from api.connections import BodyLate, body_deadline, listen
from api.progress import ProgressWatch
from api.redis_client import REDIS_DOWN
from api.v1_problems import problem
from engine.masking import mask_number
from engine.settings import Settings
from engine.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

JSON_PATHS = (password_call.PATH,)


async def progress_watch(app: web.Application) -> AsyncIterator[None]:
    """Own the progress watch (one subscription per API process) for the app's lifetime."""
    app[PROGRESS] = ProgressWatch(app[STORE].redis)
    yield
    await app[PROGRESS].close()


def unavailable(request: web.Request, reason: str, status: int = 503) -> web.Response:
    """503 (or `status`) in the API's own form: problem+json for /v1, JSON
    for the password call, text/plain otherwise."""
    if request.path.startswith("/v1/"):
        return problem("request_timeout" if status == 408 else "unavailable", reason)
    if request.path in JSON_PATHS:
        return web.json_response({"ok": False, "error": reason}, status=status)
    return web.Response(status=status, text=reason + "\n", content_type="text/plain")


def body_late(request: web.Request) -> web.Response:
    """408, and the connection closed after it: the client was too slow to send its body."""
    log.info("%s client=%s: request body not received within CALLVERIFY_READ_TIMEOUT; "
             "answered 408, connection closed", request.path, request.remote)
    response = unavailable(request, "request body not received in time", 408)
    response.force_close()
    return response


def guarded(handler: Handler) -> Handler:
    """`handler` with Redis outages and unexpected errors answered 503, logged
    without secrets, and a body that does not arrive in time answered 408."""
    @functools.wraps(handler)
    async def unavailable_on_failure(request: web.Request) -> web.StreamResponse:
        deadline = (None if request.content.is_eof()  # the usual case: the body came with the head
                    else body_deadline(request, request.app[SETTINGS].read_timeout))
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except BodyLate:
            return body_late(request)
        except REDIS_DOWN as exc:
            log.warning("%s client=%s number=%s: redis unavailable (%s)", request.path,
                        request.remote, mask_number(request.query.get("phone_number")),
                        type(exc).__name__)
            return unavailable(request, "service unavailable: storage not reachable")
        except Exception as exc:
            # Only the exception type and the frames: messages may quote request values.
            log.error("%s client=%s number=%s: unexpected %s\n%s", request.path, request.remote,
                      mask_number(request.query.get("phone_number")), type(exc).__name__,
                      "".join(traceback.format_tb(exc.__traceback__)).rstrip())
            return unavailable(request, "service unavailable")
        finally:
            if deadline is not None:
                deadline.cancel()
    return unavailable_on_failure


async def healthz(request: web.Request) -> web.Response:
    """200 "ok" when Redis answers (otherwise the guard answers 503)."""
    await request.app[STORE].redis.ping()
    return web.Response(text="ok", content_type="text/plain")


SERVER = "callverify"


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """Name the server without versions (aiohttp's default names Python's and its own)."""
    response.headers["Server"] = SERVER


def create_app(settings: Settings, store: Store) -> web.Application:
    """Build the aiohttp application serving the public APIs and /healthz on `store`."""
    app = web.Application()
    app.on_response_prepare.append(server_header)
    app[SETTINGS] = settings
    app[STORE] = store
    app[LIMITS] = ClientLimits(settings, store.redis)
    destinations.prepare(settings)
    app.cleanup_ctx.append(progress_watch)
    app.router.add_get("/healthz", guarded(healthz))
    health.add_routes(app, guarded)
    reverse_verify.add_routes(app, guarded)
    v1_verifications.add_routes(app, guarded)
    v1_actions.add_routes(app, guarded)
    # CORS outermost, so 503 answers reach a browser too.
    password_call.add_routes(app, lambda handler: cors.answering(guarded(handler)))
    cors.enable(app, password_call.PATH, guarded)
    docs_page.add_routes(app, guarded)
    return app


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """An SSL context when a certificate and key are configured, else None (plain HTTP)."""
    if not settings.tls_cert and not settings.tls_key:
        return None
    if not (settings.tls_cert and settings.tls_key):
        raise ValueError("HTTPS needs both CALLVERIFY_TLS_CERT and CALLVERIFY_TLS_KEY")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


@asynccontextmanager
async def serving(settings: Settings, store: Store, *,
                  reuse_port: bool = False) -> AsyncIterator[web.AppRunner]:
    """Serve the API on settings.api_listen (HTTPS if TLS is configured) until exit,
    waiting on slow clients at most settings.read_timeout and holding at most
    settings.max_connections (api/connections.py).

    With `reuse_port`, other processes may listen on the same port (workers).
    """
    context = tls_context(settings)
    host, port = settings.listen_host_port
    # No access log: its request line would carry the code and the api_key.
    runner = web.AppRunner(create_app(settings, store), access_log=None,
                           keepalive_timeout=settings.read_timeout,
                           lingering_time=settings.read_timeout)
    await runner.setup()
    listener = None
    try:
        listener = await listen(runner, host.strip("[]"), port, context=context,
                                max_connections=settings.max_connections,
                                read_timeout=settings.read_timeout, reuse_port=reuse_port)
        log.info("api listening on %s://%s:%d", "https" if context else "http", host, port)
        yield runner
    finally:
        if listener is not None:
            listener.close()
        await runner.cleanup()
