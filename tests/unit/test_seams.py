"""engine.seams: a listed name is found or reported, and a fast path is left
for its library path with exactly one warning naming what is missing."""
from __future__ import annotations

import logging

from engine import seams


def warnings_in(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_names_that_are_there_are_not_reported():
    assert seams.missing(["logging:Formatter.default_time_format", "json:dumps", "json"]) is None


def test_the_first_name_missing_is_reported_dotted():
    assert seams.missing(["json:dumps", "json:no_such", "json:also_not"]) == "json.no_such"
    assert seams.missing(["json:JSONEncoder.no_such"]) == "json.JSONEncoder.no_such"
    assert seams.missing(["no_such_module:x"]) == "no_such_module.x"


def test_choose_gives_the_fast_path_silently(caplog):
    assert seams.choose("thing", "fast", "library", None) == "fast"
    assert warnings_in(caplog) == []


def test_choose_gives_the_library_path_with_one_warning(caplog):
    assert seams.choose("thing", "fast", "library", "json.no_such") == "library"
    assert warnings_in(caplog) == [
        "thing: json.no_such is missing or not as expected (a library upgrade?): using the "
        "library's own path instead of the fast one"]
