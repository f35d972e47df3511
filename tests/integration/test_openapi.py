"""The OpenAPI document (api/openapi): it validates, it lists exactly the
routes the app serves, and the real API serves it at /openapi.json with a
browsable page at /docs that loads nothing from elsewhere.

The live API's answers against the document: test_openapi_conformance.py."""
from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate
from redis.asyncio import Redis

from api.app import create_app
from api.openapi import document
from api.openapi.service import DOCS_FILES
from api.v1_problems import CONTENT_TYPE as PROBLEM
from api.v1_problems import PROBLEMS, TYPE_PREFIX
from engine.settings import Settings
from engine.store import Store
from tests.integration.api_harness import ServedApi, serve_api

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def path_shape(path: str) -> str:
    """The path with its parameters' names (and aiohttp's regexes) left out:
    /v1/verifications/{id} and /v1/verifications/{vid} are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_operations(spec: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path_shape(path)) for path, item in spec["paths"].items()
            for method in item if method in METHODS}


async def served_operations(redis_url: str) -> set[tuple[str, str]]:
    """Every (method, path) the app's router serves. A `*` route is not an
    operation: it is the 405 a CORS path answers other methods with (api/cors.py)."""
    redis = Redis.from_url(redis_url)
    try:
        app = create_app(Settings().replace(redis_url=redis_url), Store(redis))
        return {(route.method, path_shape(resource.canonical))
                for resource in app.router.resources() for route in resource
                if route.method != "*"}
    finally:
        await redis.aclose()


def test_the_document_is_valid_openapi_3_1():
    spec = document()
    assert spec["openapi"].startswith("3.1.")
    validate(spec)


def test_problem_types_are_those_the_v1_api_answers_each_with_its_status():
    """Each problem `type` an answer may carry is a slug of api/v1_problems.py
    with that answer's status, and every slug is documented somewhere."""
    named = set()
    for path, item in document()["paths"].items():
        for method, operation in item.items():
            for status, answer in operation["responses"].items():
                problem = answer.get("content", {}).get(PROBLEM)
                if problem is None:
                    continue
                for urn in problem["schema"]["allOf"][1]["properties"]["type"]["enum"]:
                    slug = urn.removeprefix(TYPE_PREFIX)
                    assert PROBLEMS[slug][0] == int(status), (method, path, status, slug)
                    named.add(slug)
    assert named == set(PROBLEMS)


async def test_every_served_route_is_documented_and_nothing_else(clean_redis):
    """Method and path, HEAD and OPTIONS included: aiohttp's HEAD beside a GET
    (/healthz, /livez, /readyz) is a documented `head` operation; routes added
    without HEAD (the seed's GET, /openapi.json, /docs) have none; the password
    call's CORS preflight is its `options` operation."""
    served = await served_operations(clean_redis)
    documented = documented_operations(document())
    assert served - documented == set(), "served but not in the document"
    assert documented - served == set(), "in the document but not served"


class Client(ServedApi):
    DEFAULT_CREDITS = 0
    ACCOUNT_SECRET = "token"

    async def fetch(self, path: str) -> tuple[int, str, bytes]:
        async with self.http.get(self.base_url + path) as resp:
            return resp.status, resp.content_type, await resp.read()


@pytest.fixture
async def api(clean_redis) -> Client:
    async with serve_api(clean_redis, Client) as start:
        yield await start()


async def test_openapi_json_serves_the_document(api):
    status, content_type, body = await api.fetch("/openapi.json")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == json.loads(json.dumps(document()))


async def test_docs_page_loads_swagger_ui_from_this_server_only(api):
    status, content_type, body = await api.fetch("/docs")
    assert (status, content_type) == (200, "text/html")
    page = body.decode()
    assert "/openapi.json" in page
    # No CDN: every script, stylesheet and icon the page names is served here.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/docs/") for a in assets), assets
    assert "//" not in "".join(assets)
    for asset in assets:
        status, content_type, body = await api.fetch(asset)
        assert status == 200 and body, asset
    status, content_type, body = await api.fetch("/docs/swagger-ui-bundle.js")
    assert content_type == "text/javascript" and b"SwaggerUIBundle" in body
    assert set(DOCS_FILES) >= {a.removeprefix("/docs/") for a in assets}


async def test_docs_serves_no_other_file(api):
    for name in ("index.html", "swagger-ui.js.map", "..%2F__init__.py", "%2E%2E"):
        status, content_type, _ = await api.fetch("/docs/" + name)
        assert (status, content_type) == (404, "text/plain"), name
