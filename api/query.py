"""A request's query string as decoded name, value pairs, for the GET API.

aiohttp's `request.query` builds a MultiDict behind yarl's cached properties,
work every reverse-verify request would pay for and none needs. The pairs
here are the same ones (`urllib.parse.parse_qsl` with blank values kept,
which is how yarl decodes them; tests/unit/test_query.py holds the two side
by side), built by a plain split when nothing in the query is
percent-encoded.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web


def query_pairs(request: web.Request) -> list[tuple[str, str]]:
    """The request's query parameters, decoded, in order, repeats kept."""
    raw = request.rel_url.raw_query_string
    if "%" in raw:
        return parse_qsl(raw, keep_blank_values=True)
    pairs = []
    # '+' is a space in a query; with no '%' nothing else needs decoding.
    for part in raw.replace("+", " ").split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs
