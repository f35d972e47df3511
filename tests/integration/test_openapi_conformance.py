"""Schemathesis against the live API: requests generated from the OpenAPI
document (api/openapi), valid and invalid, sent over HTTP to the whole
service (api, engine, delivery) on the sandbox Asterisk and a real Redis.
No answer may be a 5xx, and every answer must be in the document: its status
code, its content type, its body (JSON against its schema; text/plain too,
which schemathesis leaves out: the seed's return codes) and its required headers.

What a generated request may do: the account whose key and token it uses
has no credits, so a request valid in every other way is answered 2 (reverse
verify) or 402 (password call, /v1) and no call is ever placed to a generated
number. Besides requests generated from the document alone (which rarely get
past the first check), each operation gets some with that key or token, and
some built on a realistic request (`realistic`) with the rest generated, so the
checks after authentication answer too. So that the reads, checks and cancels
also answer 200 with a real verification object, a second account makes one
keypad and one caller_id verification to test numbers the sandbox answers
itself before the run (READER_CALLS), and the {id} operations and the list
are also generated with its token and those ids (never the create: it
could pay). The run is bounded: MAX_EXAMPLES per
operation, derandomized (the same requests each run).

Hypothesis drives synchronous requests, so it runs in a worker thread while
the test's event loop serves the API."""
from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass

import aiohttp
import hypothesis
import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import document

MAX_EXAMPLES = 30
ORIGIN = "https://app.example"
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
SCHEMA = schemathesis.openapi.from_dict(document())
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Numbers the default settings dial (US, SK) or refuse (JM: region), none a
# test number the sandbox answers; the accounts' zero balance stops them all.
NUMBERS = ("12025550123", "421222202004", "18765550123")
SITE = "https://shop.example/verified"
# The reader's verifications, to test numbers the sandbox answers itself
# (docs/test-numbers.md): keypad to 0102 (busy: failed), caller_id to 0100
# (answers: the code is said, then it waits for checks). Each with the wait
# for the state it is read in: its call over.
READER_CALLS = (({"phone": "+12025550102", "channel": "keypad"},
                 lambda seen: seen["status"] == "failed"),
                ({"phone": "+12025550100", "channel": "caller_id"},
                 lambda seen: seen["status"] == "answered" and seen["ended_at"] is not None))


def realistic(operation, api_key: str) -> list[dict]:
    """as_strategy() arguments that fix a realistic part of the request."""
    path, method = operation.path, operation.method.upper()
    if path.startswith("/api/reverse_verify"):
        return [{"query": {"api_key": api_key, "country_code": number[:1] if number[0] == "1"
                           else number[:3], "phone_number": number[1:] if number[0] == "1"
                           else number[3:], "callback_url": SITE}} for number in NUMBERS]
    if method == "POST" and path == "/api/protected/api/auth/passwordcall":
        return [{"body": {"phone_number": number, "verification_code": code,
                          "is_with_redirect": True}}
                for number in NUMBERS for code in ("1234", "")]
    if method == "OPTIONS":
        return [{"headers": {"Origin": ORIGIN}}]
    if method == "POST" and path == "/v1/verifications":
        return [{"body": {"phone": "+" + number, "channel": channel, "locale": "en",
                          "callback_url": SITE}}
                for number in NUMBERS for channel in ("keypad", "caller_id", "voice")]
    return []


@dataclass(frozen=True)
class Credentials:
    """Who the generated requests are: an account with no credits (its key
    and token), and one with a single ended verification to read, check
    and cancel (its token and the verification's id; None if it could not be
    made), whose token is never given to the create operation."""

    api_key: str
    token: str
    reader_token: str
    verification_ids: tuple[str, ...]


def cases(operation, who: Credentials) -> st.SearchStrategy:
    """The operation's generated requests: from the document alone, with the
    account's credentials, and on a realistic base with them."""
    secured = bool(operation.definition.raw.get("security"))
    auth = {"Authorization": f"Bearer {who.token}"} if secured else {}
    strategies = []
    for mode in MODES:
        strategies.append(operation.as_strategy(generation_mode=mode))
        if auth:
            strategies.append(operation.as_strategy(generation_mode=mode, headers=auth))
    for fixed in realistic(operation, who.api_key):
        headers = {**auth, **fixed.pop("headers", {})}
        strategies.append(operation.as_strategy(headers=headers, **fixed))
    reader = {"Authorization": f"Bearer {who.reader_token}"}
    if operation.path == "/v1/verifications" and operation.method.upper() == "GET":
        strategies.append(operation.as_strategy(headers=reader))
    if "{id}" in operation.path:
        strategies.extend(operation.as_strategy(headers=reader, path_parameters={"id": known})
                          for known in who.verification_ids)
    return st.one_of(strategies)


def text_body_conformance(ctx, response, case) -> None:
    """A text/plain body against its documented schema (schemathesis checks
    JSON bodies only): the seed's return codes, health's `ok`."""
    answer = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    schema = answer.get("content", {}).get("text/plain", {}).get("schema")
    content_type = response.headers.get("content-type", [""])[0]
    if schema is not None and content_type.startswith("text/plain") and case.method != "HEAD":
        jsonschema.validate(response.text, schema)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance, text_body_conformance]


def run_operation(operation, base_url: str, who: Credentials) -> collections.Counter:
    """Send the operation's generated requests; raise on the first answer
    outside the document. Returns how many answers had each status."""
    statuses: collections.Counter = collections.Counter()
    session = requests.Session()

    @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                         derandomize=True, suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=cases(operation, who))
    def answers_within_the_document(case) -> None:
        response = case.call_and_validate(base_url=base_url, session=session, checks=CHECKS,
                                          timeout=10)
        statuses[response.status_code] += 1

    try:
        answers_within_the_document()
    finally:
        session.close()
    return statuses


async def ready(base_url: str, bound: float = 30) -> None:
    """Wait until /readyz stops answering 503: the engine has written its
    first heartbeat (ARI connected, the trunk found), so a 503 from /readyz
    during the run would be a finding, not the start-up."""
    deadline = time.monotonic() + bound
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(base_url + "/readyz") as resp:
                if resp.status != 503:
                    return
            assert time.monotonic() < deadline, "/readyz still 503: " + await resp.text()
            await asyncio.sleep(0.1)


@pytest.fixture
def settings(settings):
    """The integration settings, with a browser origin the preflight accepts."""
    return settings.replace(cors_origins=(ORIGIN,))


async def reader_verifications(base_url: str, token: str, bound: float = 30) -> tuple[str, ...]:
    """The ids of the READER_CALLS' verifications, each once its call is over;
    those /v1 did not take are left out (the run then reports POST
    /v1/verifications' answers)."""
    made = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for body, over in READER_CALLS:
            async with http.post(base_url + "/v1/verifications", json=body) as resp:
                if resp.status != 201:
                    continue
                verification_id = (await resp.json())["id"]
            deadline = time.monotonic() + bound
            while True:
                async with http.get(f"{base_url}/v1/verifications/{verification_id}") as resp:
                    seen = await resp.json()
                if over(seen):
                    break
                assert time.monotonic() < deadline, f"{body['channel']} call not over: {seen}"
                await asyncio.sleep(0.1)
            made.append(verification_id)
    return tuple(made)


async def test_live_api_answers_within_the_document(service, settings):
    """Every operation of the document, on one running service; the failures
    of all of them are reported together, each with the request that failed."""
    base_url = "http://{}:{}".format(*settings.listen_host_port)
    await ready(base_url)
    broke = await service.store.accounts.create("schemathesis", 0)
    reader = await service.store.accounts.create("reader", 100)
    who = Credentials(broke.api_key, broke.token, reader.token,
                      await reader_verifications(base_url, reader.token))
    failures: dict[str, str] = {}
    for operation in OPERATIONS:
        try:
            statuses = await asyncio.to_thread(run_operation, operation, base_url, who)
        except (Exception, BaseExceptionGroup) as exc:  # a check's failure group, or another
            failures[operation.label] = str(exc).strip()
        else:
            assert sum(statuses.values()) > 0, operation.label
    assert not failures, "answers outside the document:\n\n" + "\n\n".join(
        f"== {label}\n{said}" for label, said in failures.items())
    assert len(who.verification_ids) == len(READER_CALLS), "POST /v1/verifications placed no call"
    # Nothing generated was worth a call: the one account that could pay
    # never created; the other has no credits, so nothing was accepted.
    assert await service.store.redis.xlen("cv:calls") == 0
    assert (await service.store.accounts.get(broke.account_id)).credits == 0
