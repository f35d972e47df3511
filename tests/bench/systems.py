"""The two systems under load: callverify through its HTTP API, and the same
call in plain dialplan originated over ARI.  Each places a call for a number
and learns its verdict; `steps.run_step` drives either one.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

CODE = "1234"
CALLER_ID = "0000000000"


@dataclass
class Attempt:
    """One call as the load generator saw it (epoch seconds)."""

    number: str                 # E.164 digits, as the phone sees it in the INVITE
    sent: float = 0.0
    answered_at: float = 0.0    # HTTP answer (API) or originate answer (ARI)
    response: str = ""          # API return code, or ARI status
    verdict: str = ""           # "match", "nomatch", "unanswered"
    reason: str = ""            # callverify's callback reason (0: failed, e.g. expired)
    verdict_at: float = 0.0
    ended: bool = False         # nothing more will be learnt about this call

    @property
    def accepted(self) -> bool:
        return self.response in ("0", "200")


class CallbackSink:
    """The customer's callback URL: records when each verdict arrives."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/cb"
        self.by_national: dict[str, Attempt] = {}
        self.unknown = 0
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        now = time.time()
        q = request.query
        attempt = self.by_national.get(q.get("phone_number", ""))
        if attempt is None or attempt.verdict:
            self.unknown += 1
        else:
            attempt.verdict_at = now
            attempt.reason = q.get("reason", "")
            if q.get("answered") != "1":
                attempt.verdict = "unanswered"
            else:
                attempt.verdict = "match" if q.get("match") == "1" else "nomatch"
            attempt.ended = True
        return web.Response(text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cb", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class CallverifyApi:
    """Reverse verify through GET /api/reverse_verify/; the verdict is the callback."""

    name = "callverify"

    def __init__(self, base: str, api_key: str, sink: CallbackSink) -> None:
        self.base, self.api_key, self.sink = base, api_key, sink
        self.http: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()

    async def begin(self) -> None:
        """Nothing to set up before a step (the verdicts come to the sink)."""

    async def end(self) -> None:
        """Nothing to tear down after a step."""

    async def place(self, attempt: Attempt) -> None:
        national = attempt.number[1:]
        self.sink.by_national[national] = attempt
        params = {"api_key": self.api_key, "phone_number": national, "country_code": "1",
                  "code": CODE, "callback_url": self.sink.url, "secret": "bench"}
        assert self.http is not None
        attempt.sent = time.time()
        try:
            async with self.http.get(f"{self.base}/api/reverse_verify/", params=params) as resp:
                body = (await resp.text()).strip()
                attempt.response = body if resp.status == 200 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            attempt.response = type(exc).__name__
        attempt.answered_at = time.time()
        if not attempt.accepted:
            attempt.ended = True


class DialplanBaseline:
    """ARI originate into the `callverify-baseline` context; the verdict is the
    channel variable VERIFY_MATCH, seen as a ChannelVarset event."""

    name = "dialplan"
    APP = "cvbase"

    def __init__(self, state: dict) -> None:
        self.ari = state["ari_url"].rstrip("/") + "/ari"
        self.auth = aiohttp.BasicAuth(state["ari_user"], state["ari_password"])
        self.http: aiohttp.ClientSession | None = None
        self.by_channel: dict[str, Attempt] = {}
        self.unknown_events = 0
        self._listener: asyncio.Task | None = None
        self._connected = asyncio.Event()

    async def open(self) -> None:
        self.http = aiohttp.ClientSession(auth=self.auth,
                                          connector=aiohttp.TCPConnector(limit=20))

    async def begin(self) -> None:
        """Listen for events during this system's own steps only: subscribeAll
        gets every event of every channel, callverify's calls included, which
        would load Asterisk and the load generator during callverify's steps."""
        self._connected.clear()
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        await asyncio.wait_for(self._connected.wait(), 10)

    async def end(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None

    async def close(self) -> None:
        await self.end()
        if self.http is not None:
            await self.http.close()

    async def _listen(self) -> None:
        # subscribeAll: channels in dialplan belong to no Stasis app otherwise.
        assert self.http is not None
        url = self.ari.replace("http", "ws", 1) + "/events"
        async with self.http.ws_connect(url, params={"app": self.APP, "subscribeAll": "true"},
                                        heartbeat=30) as ws:
            self._connected.set()
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._on_event(json.loads(msg.data), time.time())

    def _on_event(self, event: dict, now: float) -> None:
        kind = event.get("type")
        if kind not in ("ChannelVarset", "ChannelDestroyed"):
            return
        attempt = self.by_channel.get((event.get("channel") or {}).get("id", ""))
        if attempt is None:
            self.unknown_events += 1
            return
        if kind == "ChannelVarset" and event.get("variable") == "VERIFY_MATCH":
            attempt.verdict = "match" if event.get("value") == "1" else "nomatch"
            attempt.verdict_at = now
        elif kind == "ChannelDestroyed":
            if not attempt.verdict:
                attempt.verdict = "unanswered"
                attempt.verdict_at = now
            attempt.ended = True

    async def place(self, attempt: Attempt) -> None:
        channel_id = f"{self.APP}-{attempt.number}"
        self.by_channel[channel_id] = attempt
        params = {"endpoint": f"PJSIP/{attempt.number}@trunk", "context": "callverify-baseline",
                  "extension": "s", "priority": "1", "callerId": CALLER_ID, "timeout": "30",
                  "channelId": channel_id}
        variables = {"CODE": CODE, "CODE_LEN": str(len(CODE)), "TIMEOUT(absolute)": "180"}
        assert self.http is not None
        attempt.sent = time.time()
        try:
            async with self.http.post(f"{self.ari}/channels", params=params,
                                      json={"variables": variables}) as resp:
                await resp.read()
                attempt.response = str(resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            attempt.response = type(exc).__name__
        attempt.answered_at = time.time()
        if not attempt.accepted:
            attempt.ended = True

    async def channels(self) -> list:
        assert self.http is not None
        async with self.http.get(f"{self.ari}/channels") as resp:
            return await resp.json()

    async def hang_up_all(self) -> int:
        """Hang up every channel on Asterisk (callverify's too); how many there were."""
        assert self.http is not None
        channels = await self.channels()
        for channel in channels:
            async with self.http.delete(f"{self.ari}/channels/{channel['id']}") as resp:
                await resp.read()
        return len(channels)
