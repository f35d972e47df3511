"""The event loop the services run on.

uvloop (libuv) by default: each call and each request costs less CPU on it
than on the standard library's loop, the difference all in the loop and its
transports.
CALLVERIFY_EVENT_LOOP=asyncio runs on the standard library's loop instead.
"""
from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any

LOOPS = ("uvloop", "asyncio")


def run(main: Coroutine[Any, Any, Any], kind: str = "uvloop") -> Any:
    """Run `main` to completion on a new loop of `kind`."""
    if kind not in LOOPS:
        main.close()
        raise ValueError(f"CALLVERIFY_EVENT_LOOP must be one of {', '.join(LOOPS)}, not {kind!r}")
    if kind == "asyncio":
        return asyncio.run(main)
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def freeze_start_up_heap() -> None:
    """Keep what start-up built (modules, phone-number metadata, pools) out of
    the garbage collector's full passes: they never become garbage, and
    scanning them again on every full pass costs CPU under load."""
    gc.collect()
    gc.freeze()
