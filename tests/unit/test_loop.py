"""engine.loop: the services' event loop is chosen by CALLVERIFY_EVENT_LOOP."""
from __future__ import annotations

import asyncio

import pytest

from engine import loop
from engine.settings import load_settings


async def loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_by_default():
    assert load_settings({}).event_loop == "uvloop"
    assert loop.run(loop_module()).startswith("uvloop")


def test_standard_loop_on_request():
    settings = load_settings({"CALLVERIFY_EVENT_LOOP": "asyncio"})
    assert loop.run(loop_module(), settings.event_loop).startswith("asyncio")


def test_unknown_loop_is_refused_and_the_coroutine_closed():
    main = loop_module()
    with pytest.raises(ValueError, match="CALLVERIFY_EVENT_LOOP"):
        loop.run(main, "trio")
    assert main.cr_frame is None  # closed: no "never awaited" warning
