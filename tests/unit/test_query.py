"""api.query's fast path gives the pairs its library path, aiohttp's
`request.query`, gives, for the same raw request targets, sent to a real
aiohttp server on localhost; the fast path is chosen only while what it reads
is there."""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import re

import pytest
import yarl
from aiohttp import web
from aiohttp.test_utils import TestServer, make_mocked_request

from api import query
from api.query import fast_query_pairs, library_query_pairs, query_pairs

PIECES = ["a", "b", "name", "=", "&", "+", "%", "%41", "%2B", "%26", "%3D", "%20", "%ff",
          "%e2%82%ac", "%e2%82", "%zz", "%4", ";", ":", "/", "?", "~", "!", "*", "'", "(", ")"]


def targets() -> list[str]:
    rng = random.Random(4)
    fixed = ["", "a", "a=", "=a", "&&", "a=1&a=2", "a=b=c", "code=12+34", "x=%", "x=%2",
             "api_key=k&phone_number=5551234567&country_code=1&code=4345"
             "&callback_url=http%3A%2F%2Fsite.com%2Fcallback.php%3Fa%3D1%26b%3D2",
             "callback_url=http://site.com/cb?x=1&secret=a+b",
             # repeats, blanks, names without '=', '+' around '=', unicode raw and encoded
             "a=1&a=1&a=", "a&b&c", "=&=", "+=+", "a+b=c+d", "%2b=%2B", "x=1;y=2",
             "é=ü&x=€", "caf%C3%A9=th%C3%A9&n=%E2%82%AC", "a=%C3&b=%80", "a=%%41", "&a=1&"]
    return fixed + ["".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14)))
                    for _ in range(600)]


async def test_query_pairs_match_aiohttp_request_query():
    """Fails when an aiohttp or yarl upgrade decodes a query otherwise."""
    async def both(request: web.Request) -> web.Response:
        return web.json_response({"ours": fast_query_pairs(request),
                                  "aiohttp": library_query_pairs(request)})

    app = web.Application()
    app.router.add_get("/q", both)
    server = TestServer(app)
    await server.start_server()
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        compared = 0
        for raw in targets():
            writer.write(f"GET /q?{raw} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            if status != 200:  # a target aiohttp's parser refuses never reaches a handler
                reader, writer = await asyncio.open_connection(server.host, server.port)
                continue
            answer = json.loads(body)
            assert answer["ours"] == answer["aiohttp"], raw
            compared += 1
        writer.close()
        assert compared > 500
    finally:
        await server.close()


def test_query_pairs_match_on_requests_made_in_process():
    """As above, on URLs yarl builds from text (raw non-ASCII, which aiohttp's
    HTTP parser refuses, is encoded on the way)."""
    for raw in [*targets(), "é=ü&x=€", "名前=値&名前", "a=ü+ü", "ü%20=1"]:
        request = make_mocked_request("GET", f"/q?{raw}")
        assert fast_query_pairs(request) == library_query_pairs(request), raw


@pytest.mark.parametrize("pairs", [fast_query_pairs, library_query_pairs],
                         ids=["fast", "library"])
def test_plus_is_a_space_and_blank_values_are_kept(pairs):
    fast = make_mocked_request("GET", "/q?code=&secret=a+b&&flag")  # nothing percent-encoded
    assert pairs(fast) == [("code", ""), ("secret", "a b"), ("flag", "")]
    decoded = make_mocked_request("GET", "/q?code=&secret=a+b&&flag&x=%41")
    assert pairs(decoded) == [("code", ""), ("secret", "a b"), ("flag", ""), ("x", "A")]


def test_with_the_pinned_libraries_the_fast_path_is_chosen():
    assert query_pairs is fast_query_pairs


def test_a_name_gone_falls_back_to_request_query_with_one_warning(monkeypatch, caplog):
    monkeypatch.delattr(yarl.URL, "raw_query_string")
    assert query.choose_query_pairs() is library_query_pairs
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "yarl.URL.raw_query_string" in warnings[0]


def test_what_the_fast_path_reads_is_checked():
    source = inspect.getsource(fast_query_pairs)
    assert re.findall(r"request\.([\w.]+)", source) == ["rel_url.raw_query_string"]
    assert re.findall(r"\b(parse_\w+)\(", source) == ["parse_qsl"]
    assert set(query.READS) == {"aiohttp.web:Request.rel_url", "yarl:URL.raw_query_string",
                                "urllib.parse:parse_qsl"}
