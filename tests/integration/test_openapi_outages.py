"""The answers generated requests rarely reach, against the OpenAPI document:
Redis down (503 from every route that reads it) and clients over their rate
(429 with Retry-After). Each request is a schemathesis case of the document's
operation, sent to the real API (no engine: none is needed), and its answer
is checked as in test_openapi_conformance.py, less the 5xx check."""
from __future__ import annotations

import asyncio

import pytest
import requests

from tests.conftest import free_port
from tests.integration.api_harness import ServedApi, serve_api
from tests.integration.test_openapi_conformance import CHECKS, SCHEMA, not_a_server_error

WITHIN_THE_DOCUMENT = [check for check in CHECKS if check is not not_a_server_error]
NUMBER = "12025550123"
REVERSE_VERIFY = {"api_key": "k", "phone_number": NUMBER[1:], "country_code": "1", "code": "1234",
                  "callback_url": "https://shop.example/verified"}
# (path, method) -> the request's parts, every operation of the document.
REQUESTS = {
    ("/api/reverse_verify/", "GET"): {"query": REVERSE_VERIFY},
    ("/api/reverse_verify", "GET"): {"query": REVERSE_VERIFY},
    ("/api/protected/api/auth/passwordcall", "POST"): {"body": {"phone_number": NUMBER}},
    ("/api/protected/api/auth/passwordcall", "OPTIONS"): {"headers": {"Origin": "https://a.example"}},
    ("/v1/verifications", "POST"): {"body": {"phone": "+" + NUMBER, "channel": "keypad"}},
    ("/v1/verifications", "GET"): {},
    ("/v1/verifications/{id}", "GET"): {"path_parameters": {"id": "0123456789ab"}},
    ("/v1/verifications/{id}/check", "POST"): {"path_parameters": {"id": "0123456789ab"},
                                               "body": {"code": "1234"}},
    ("/v1/verifications/{id}/cancel", "POST"): {"path_parameters": {"id": "0123456789ab"}},
    ("/docs/{file}", "GET"): {"path_parameters": {"file": "swagger-ui.css"}},
}


class Client(ServedApi):
    DEFAULT_CREDITS = 0
    ACCOUNT_SECRET = "token"


def answer(base_url: str, path: str, method: str, token: str = "some-token") -> int:
    """Send the operation's request (with `token` where it takes one); check
    the answer is within the document; return its status."""
    operation = SCHEMA[path][method]
    parts = REQUESTS.get((path, method), {})
    headers = {**({"Authorization": f"Bearer {token}"}
                  if operation.definition.raw.get("security") else {}),
               **parts.get("headers", {})}
    case = operation.Case(**{**parts, "headers": headers})
    with requests.Session() as session:
        response = case.call(base_url=base_url, session=session, timeout=10)
    case.validate_response(response, checks=WITHIN_THE_DOCUMENT)
    return response.status_code


def every_operation() -> list[tuple[str, str]]:
    return [(op.path, op.method.upper()) for op in
            (result.ok() for result in SCHEMA.get_all_operations())]


@pytest.fixture
async def serve(clean_redis):
    async with serve_api(clean_redis, Client) as start:
        yield start


@pytest.mark.parametrize(("path", "method"), every_operation())
async def test_redis_down_every_answer_is_in_the_document(serve, path, method):
    """503 where the route needs Redis (in the route's own form), 200 where it does not."""
    down = await serve(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status = await asyncio.to_thread(answer, down.base_url, path, method)
    reads_nothing = ("/livez", "/openapi.json", "/docs", "/docs/{file}")
    if path in reads_nothing or method == "OPTIONS":
        assert status in (200, 403, 404), status
    else:
        assert status == 503


RATED = [("/api/reverse_verify/", "GET"), ("/api/protected/api/auth/passwordcall", "POST"),
         ("/v1/verifications", "POST"), ("/v1/verifications", "GET"),
         ("/v1/verifications/{id}", "GET"), ("/v1/verifications/{id}/check", "POST"),
         ("/v1/verifications/{id}/cancel", "POST")]


@pytest.mark.parametrize(("path", "method"), RATED)
async def test_over_the_address_rate_the_429_is_in_the_document(serve, path, method):
    """The second request within the second is refused 429, with Retry-After
    (the document requires the header where it says so)."""
    api = await serve(rate_per_address="1/1")
    _, token = await api.account()
    first = await asyncio.to_thread(answer, api.base_url, path, method, token)
    second = await asyncio.to_thread(answer, api.base_url, path, method, token)
    assert first != 429
    assert second == 429
