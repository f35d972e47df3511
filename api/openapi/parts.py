"""Building blocks of the OpenAPI document: answers every route shares
(the failure guard's 408 and 503, the connection cap's 503), text/plain
answers, JSON bodies, problem+json answers and the Retry-After header.

A helper returns a fresh dict each time, so no part of the document is
shared by reference (a JSON dump of it never needs anchors)."""
from __future__ import annotations

from typing import Any

from api.v1_problems import CONTENT_TYPE as PROBLEM
from api.v1_problems import TYPE_PREFIX as PROBLEM_PREFIX

Json = dict[str, Any]
CONNECTION_CAP = ("or, past CALLVERIFY_MAX_CONNECTIONS open connections, `too many "
                  "connections` (text/plain, `Retry-After: 1`) before any request is read")


def ref(name: str) -> Json:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def retry_after(required: bool = True, why: str = "") -> Json:
    """The Retry-After header: whole seconds to wait before trying again."""
    return {"Retry-After": {
        "description": why or "Whole seconds to wait before trying again.",
        "required": required,
        "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


def text(description: str, schema: Json | None = None, headers: Json | None = None) -> Json:
    """A text/plain answer."""
    answer: Json = {"description": description,
                    "content": {"text/plain": {"schema": schema or {"type": "string"}}}}
    if headers:
        answer["headers"] = headers
    return answer


def json_body(description: str, schema: Json, headers: Json | None = None,
              media_type: str = "application/json") -> Json:
    """A JSON answer."""
    answer: Json = {"description": description, "content": {media_type: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def problem_types(*slugs: str) -> Json:
    """The schema of a problem whose `type` is one of `slugs`' URNs."""
    return {"allOf": [ref("Problem"),
                      {"properties": {"type": {"enum": [PROBLEM_PREFIX + s for s in slugs]}}}]}


def problem(description: str, *slugs: str, headers: Json | None = None,
            also_text: str = "") -> Json:
    """A problem+json answer whose `type` is one of `slugs` (and, with
    `also_text`, a text/plain answer described by it)."""
    answer = json_body(description, problem_types(*slugs), headers, PROBLEM)
    if also_text:
        answer["description"] += " " + also_text
        answer["content"]["text/plain"] = {"schema": {"type": "string"}}
    return answer


def slow_body(json_error: bool = False) -> Json:
    """408: the guard's answer to a body not received within CALLVERIFY_READ_TIMEOUT."""
    description = ("The request's body did not arrive within CALLVERIFY_READ_TIMEOUT; "
                   "the connection is closed after this answer.")
    if json_error:
        return json_body(description, ref("SeedError"))
    return text(description)


def unavailable(description: str = "", json_error: bool = False, busy: bool = False) -> Json:
    """503: storage unreachable or an unexpected failure (never a 500), the
    connection cap, and when `busy`, the engines' backpressure."""
    said = description or "Service unavailable: storage (Redis) not reachable, or an unexpected failure"
    said += ", " + CONNECTION_CAP + "."
    headers = retry_after(required=False, why="Set when busy and on the connection cap.")
    if json_error:
        answer = json_body(said, ref("SeedError"), headers)
        answer["content"]["text/plain"] = {"schema": {"type": "string"}}
        return answer
    return text(said, headers=headers)
