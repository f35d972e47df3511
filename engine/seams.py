"""Fast paths and the library paths they shadow.

A fast path reads a library's private names, or does part of a library's
work its own way: it is right only while the library stays as it was when
the fast path was written. Each one lists the names it reads; `choose` takes
the fast path when every one of them is there, else the library path it
stands in for, with one warning naming the first name missing. A choice is
made once per process (at import or start-up), never per call.

The unit tier holds, for each fast path, a test that the two paths agree and
one that the check notices each listed name going missing.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


def missing(names: Iterable[str]) -> str | None:
    """The first of `names` that cannot be found, dotted; None when all are there.

    A name is "module:attribute.attribute", e.g. "logging:_srcfile"; the
    module is imported if it is not yet.
    """
    for name in names:
        module_name, _, path = name.partition(":")
        try:
            found = importlib.import_module(module_name)
            for attribute in filter(None, path.split(".")):
                found = getattr(found, attribute)
        except (ImportError, AttributeError):
            return dotted(name)
    return None


def dotted(name: str) -> str:
    return name.replace(":", ".")


def fall_back(what: str, name: str) -> None:
    """The one warning of a fast path left for its library path."""
    log.warning("%s: %s is missing or not as expected (a library upgrade?): using the "
                "library's own path instead of the fast one", what, name)


def choose(what: str, fast: T, library: U, missing_name: str | None) -> T | U:
    """`fast` when nothing it reads is missing, else `library` and one warning."""
    if missing_name is None:
        return fast
    fall_back(what, missing_name)
    return library
