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

from engine.seams import choose, missing

# What fast_query_pairs reads. None of it is private: the raw query text, which
# is what yarl decodes for `request.query`, and the decoder yarl's own matches.
READS = ("aiohttp.web:Request.rel_url", "yarl:URL.raw_query_string", "urllib.parse:parse_qsl")


def fast_query_pairs(request: web.Request) -> list[tuple[str, str]]:
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


def library_query_pairs(request: web.Request) -> list[tuple[str, str]]:
    """The library path: the pairs of aiohttp's `request.query`, as yarl decodes them."""
    return list(request.query.items())


def choose_query_pairs():
    return choose("query parser", fast_query_pairs, library_query_pairs, missing(READS))


# Chosen once, at import.
query_pairs = choose_query_pairs()
