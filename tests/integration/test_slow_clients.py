"""Slow clients and the connection cap, with real sockets against the real API
(api/connections.py): an idle connection, dripped headers, a body that never
completes and a TLS handshake never made are each closed within
CALLVERIFY_READ_TIMEOUT; past CALLVERIFY_MAX_CONNECTIONS a new connection gets
503 and is closed while the open ones are served; keep-alive still works."""
from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest

from tests.integration.api_harness import ServedApi, serve_api

READ_TIMEOUT = 1.5
MARGIN = 1.0  # scheduling and the test's own reads
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: cv\r\n\r\n"


class TokenClient(ServedApi):
    DEFAULT_CREDITS = 10**6
    ACCOUNT_SECRET = "token"


@pytest.fixture
async def serve(clean_redis):
    async with serve_api(clean_redis, TokenClient, read_timeout=READ_TIMEOUT) as start:
        yield start


@pytest.fixture
async def api(serve) -> TokenClient:
    return await serve()


async def connect(api: ServedApi) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = api.base_url.split("://")[1].split(":")
    return await asyncio.open_connection(host, int(port))


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer: status, headers (lower-case names), body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip()
               for name, _, value in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def seconds_until_closed(reader: asyncio.StreamReader, *, within: float) -> float:
    """How long until the server closes the connection (what it sends is
    skipped); fails if it is still open after `within` seconds."""
    started = time.monotonic()
    try:
        while await asyncio.wait_for(reader.read(4096), within):
            pass
    except TimeoutError:
        pytest.fail(f"the connection is still open after {within} s")
    except ConnectionError:
        pass
    return time.monotonic() - started


async def drip(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    for byte in data:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)


async def test_an_idle_connection_is_closed_after_the_read_timeout(api):
    reader, writer = await connect(api)
    waited = await seconds_until_closed(reader, within=READ_TIMEOUT + MARGIN)
    assert waited >= READ_TIMEOUT - 0.2
    writer.close()


async def test_dripped_headers_are_cut_off_at_the_read_timeout(api):
    """A byte every 0.25 s would keep a per-read timeout happy: the deadline is
    for the whole head."""
    reader, writer = await connect(api)
    dripping = asyncio.create_task(drip(
        writer, b"GET /healthz HTTP/1.1\r\nHost: cv\r\n" + b"X-Slow: 1\r\n" * 20, 0.25))
    data = b""
    started = time.monotonic()
    try:
        while chunk := await asyncio.wait_for(reader.read(4096), READ_TIMEOUT + MARGIN):
            data += chunk
    except TimeoutError:
        pytest.fail("the dripping connection is still open")
    except ConnectionError:
        pass
    assert time.monotonic() - started < READ_TIMEOUT + MARGIN
    assert data == b""  # no answer: the request never arrived whole
    dripping.cancel()
    writer.close()


async def test_a_body_that_never_completes_is_answered_408_and_closed(api):
    _, token = await api.account()
    reader, writer = await connect(api)
    writer.write(b"POST /api/protected/api/auth/passwordcall HTTP/1.1\r\nHost: cv\r\n"
                 b"Authorization: Bearer " + token.encode() + b"\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"phone")
    started = time.monotonic()
    status, headers, body = await answer(reader)
    assert time.monotonic() - started < READ_TIMEOUT + MARGIN
    assert status == 408 and headers["connection"].lower() == "close"
    assert json.loads(body) == {"ok": False, "error": "request body not received in time"}
    await seconds_until_closed(reader, within=MARGIN)
    writer.close()


async def test_an_unread_body_that_never_completes_is_closed_after_the_answer(api):
    """The handler answers without the body; the server reads on for it (so
    the client gets the answer) no longer than the read timeout."""
    reader, writer = await connect(api)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: cv\r\nContent-Length: 100\r\n\r\nab")
    status, _, body = await answer(reader)
    assert (status, body) == (200, b"ok")
    await seconds_until_closed(reader, within=READ_TIMEOUT + MARGIN)
    writer.close()


async def test_keep_alive_serves_several_requests_on_one_connection(api):
    reader, writer = await connect(api)
    for pause in (0, READ_TIMEOUT / 2, READ_TIMEOUT / 2):
        await asyncio.sleep(pause)  # idle, but less than the read timeout
        writer.write(HEALTHZ)
        assert (await answer(reader))[::2] == (200, b"ok")
    # Pipelined: both requests in one write.
    writer.write(HEALTHZ * 2)
    assert [(await answer(reader))[0] for _ in range(2)] == [200, 200]
    # Idle past the read timeout: closed.
    await seconds_until_closed(reader, within=READ_TIMEOUT + MARGIN)
    writer.close()


async def test_past_the_connection_cap_new_connections_get_503_and_are_closed(serve):
    api = await serve(max_connections=3, read_timeout=10)
    held = [await connect(api) for _ in range(3)]
    await asyncio.sleep(0.1)  # all three accepted
    reader, writer = await connect(api)
    started = time.monotonic()
    status, headers, body = await answer(reader)
    assert (status, headers["retry-after"], body) == (503, "1", b"too many connections\n")
    await seconds_until_closed(reader, within=1)
    assert time.monotonic() - started < 1
    writer.close()
    # The open ones are still served.
    for held_reader, held_writer in held:
        held_writer.write(HEALTHZ)
        assert (await answer(held_reader))[::2] == (200, b"ok")
    # One closes: a new connection is taken again.
    held_reader, held_writer = held.pop()
    held_writer.close()
    await seconds_until_closed(held_reader, within=1)
    await asyncio.sleep(0.1)
    reader, writer = await connect(api)
    writer.write(HEALTHZ)
    assert (await answer(reader))[::2] == (200, b"ok")
    for _, held_writer in [*held, (reader, writer)]:
        held_writer.close()


async def test_a_tls_handshake_never_made_is_closed_after_the_read_timeout(serve, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True)
    secure = await serve(tls_cert=str(cert), tls_key=str(key))
    reader, writer = await connect(secure)
    await seconds_until_closed(reader, within=READ_TIMEOUT + MARGIN)
    writer.close()
