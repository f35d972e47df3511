"""ARI REST: the few Asterisk resources callverify uses.

Requests go over the events WebSocket when Asterisk takes them there (less
CPU than an HTTP request, on both sides), otherwise over HTTP through one
bounded pool.

Originates never go over the events WebSocket. Asterisk answers a
WebSocket's requests one at a time, in that socket's own thread, and an
originate holds the thread while it creates the channel; on the events
socket every play and hang-up would queue behind the set-ups, and under load
the calls would ring late. They go round a few WebSockets of their own
instead (`originators`, opened by AriClient), each with its own Asterisk
thread, so set-ups run side by side; over HTTP while none of those takes
REST. docs/benchmark.md has what each choice was measured at.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import orjson

from engine.ari.events import NotSent

if TYPE_CHECKING:
    from engine.ari.events import EventStream

# Asterisk's HTTP server allows 100 sessions (http.conf sessionlimit); stay under.
DEFAULT_POOL = 50


class AriError(Exception):
    """ARI answered with an error status, or could not be reached (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"ARI {status}: {message}")
        self.status = status


class AriRest:
    """A thin REST client for ARI. Create it anywhere; `open()` inside a loop."""

    def __init__(self, base_url: str, user: str, password: str, *,
                 pool_size: int = DEFAULT_POOL, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/") + "/ari"
        self._auth_header = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.websocket: EventStream | None = None  # used while it carries REST
        self.originators: list[EventStream] = []  # REST-only sockets for originates
        self._turn = 0

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._auth_header, timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._pool_size))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      body: dict | None = None, http: bool = False,
                      websocket: EventStream | None = None) -> Any:
        """Send one request; return the decoded JSON (None for 204).

        Over `websocket` (default: the events socket) while it takes REST; with
        `http`, over HTTP even then.
        """
        if self._session is None:
            raise AriError(0, "client is not open")
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        socket = websocket or self.websocket
        if not http and socket is not None and socket.takes_rest:
            try:
                return await self._over_websocket(socket, method, path, clean, body)
            except NotSent:
                pass  # the socket went between the check and the send: use HTTP
        try:
            async with self._session.request(method, self.base_url + path, params=clean,
                                             json=body) as resp:
                text = await resp.text()
                if resp.status >= 300:
                    raise AriError(resp.status, _error_message(text))
                return orjson.loads(text) if text else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AriError(0, f"{type(exc).__name__}: {exc}") from exc

    async def _over_websocket(self, websocket: EventStream, method: str, path: str,
                              params: dict, body: dict | None) -> Any:
        query = [{"name": name, "value": value} for name, value in params.items()]
        try:
            answer = await websocket.request(
                method, path.lstrip("/"), query=query,
                body=orjson.dumps(body).decode() if body is not None else None,
                timeout=self._timeout.total or 10.0)
        except NotSent:
            raise
        except (ConnectionError, TimeoutError) as exc:
            raise AriError(0, f"{type(exc).__name__}: {exc}") from exc
        status, text = int(answer.get("status_code") or 0), answer.get("message_body") or ""
        if status >= 300 or status == 0:
            raise AriError(status, _error_message(text))
        return orjson.loads(text) if text else None

    async def originate(self, *, endpoint: str, app: str, channel_id: str,
                        app_args: str = "", caller_id: str | None = None,
                        timeout: float = 30, variables: dict | None = None) -> dict:
        """Dial `endpoint` into Stasis `app` under a channel id we chose.

        Choosing the id lets the caller listen for the channel's events before
        the POST returns (StasisStart can arrive first). Over the next
        originate socket in turn, or HTTP: never the events socket.
        """
        params = {"endpoint": endpoint, "app": app, "appArgs": app_args,
                  "channelId": channel_id, "callerId": caller_id,
                  "timeout": int(timeout)}
        socket = self._originator()
        return await self.request("POST", "/channels", params=params,
                                  body={"variables": variables or {}}, http=socket is None,
                                  websocket=socket)

    def _originator(self) -> EventStream | None:
        ready = [socket for socket in self.originators if socket.takes_rest]
        if not ready:
            return None
        self._turn += 1
        return ready[self._turn % len(ready)]

    async def _if_found(self, method: str, path: str, **kwargs: Any) -> tuple[bool, Any]:
        """A request whose 404 is an answer, not an error: (False, None) then."""
        try:
            return True, await self.request(method, path, **kwargs)
        except AriError as exc:
            if exc.status == 404:
                return False, None
            raise

    async def hang_up(self, channel_id: str, reason: str = "normal") -> bool:
        """Hang a channel up. False when it was already gone (404 means done)."""
        found, _ = await self._if_found("DELETE", f"/channels/{channel_id}",
                                        params={"reason": reason})
        return found

    async def play(self, channel_id: str, media: list[str], playback_id: str,
                   lang: str | None = None) -> dict:
        """Start playing one or more media URIs in order on a channel; with
        `lang`, a `sound:` URI plays the file of that language (sounds/<lang>/...)."""
        return await self.request("POST", f"/channels/{channel_id}/play/{playback_id}",
                                  params={"media": media, "lang": lang})

    async def stop_playback(self, playback_id: str) -> None:
        """Stop a playback; one that has already finished is not an error."""
        await self._if_found("DELETE", f"/playbacks/{playback_id}")

    async def channels(self) -> list[dict]:
        """All channels Asterisk has now."""
        return await self.request("GET", "/channels")

    async def channel_variable(self, channel_id: str, name: str) -> str | None:
        _, result = await self._if_found("GET", f"/channels/{channel_id}/variable",
                                         params={"variable": name})
        return result.get("value") if result else None

    async def asterisk_info(self) -> dict:
        return await self.request("GET", "/asterisk/info")

    async def endpoint_state(self, technology: str, resource: str) -> str | None:
        """An endpoint's state ("online", "offline", "unknown"); None if Asterisk has no such endpoint."""
        _, found = await self._if_found("GET", f"/endpoints/{technology}/{resource}")
        return found.get("state") if found else None

    async def config_object(self, config_class: str, object_type: str,
                            object_id: str) -> dict[str, str] | None:
        """A sorcery object's fields (`GET /asterisk/config/dynamic/...`); None if there is none."""
        found, fields = await self._if_found(
            "GET", _config_path(config_class, object_type, object_id))
        return {f["attribute"]: f["value"] for f in fields or ()} if found else None

    async def put_config_object(self, config_class: str, object_type: str, object_id: str,
                                fields: dict[str, str]) -> None:
        """Create or update a sorcery object through ARI's configuration push (the
        object type needs a writable wizard in sorcery.conf, such as astdb)."""
        body = {"fields": [{"attribute": k, "value": v} for k, v in fields.items()]}
        await self.request("PUT", _config_path(config_class, object_type, object_id), body=body)

    async def delete_config_object(self, config_class: str, object_type: str,
                                   object_id: str) -> bool:
        """Delete a pushed sorcery object. False when there was none (404)."""
        found, _ = await self._if_found(
            "DELETE", _config_path(config_class, object_type, object_id))
        return found


def _config_path(config_class: str, object_type: str, object_id: str) -> str:
    return f"/asterisk/config/dynamic/{config_class}/{object_type}/{quote(object_id, safe='')}"


def _param(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _error_message(text: str) -> str:
    try:
        return json.loads(text).get("message", text)
    except (ValueError, AttributeError):
        return text[:200]
