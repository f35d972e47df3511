"""The flows by name. Each is a module with the same parts:

    NAME, LEGACY_NAME   the name stored on its verifications (and the one
                        records written before flows had one name carry)
    run(call, verification, settings, store) -> CallOutcome
                        the call up to its verdict
    farewell(call, verification, settings, outcome)
                        what a call still up after its verdict hears before
                        the engine hangs up
    notifications(verification, outcome) -> list[Notification]

Adding a flow: its module in engine/flows/, its API in api/, and one line below.
"""
from __future__ import annotations

from types import ModuleType

from engine import v1_events
from engine.flows import password_call, reverse_verify, voice
from engine.notifications import Notification
from engine.outcome import CallOutcome
from engine.verification import Verification

FLOWS: dict[str, ModuleType] = {flow.NAME: flow for flow in (reverse_verify, password_call,
                                                             voice)}
_BY_LEGACY_NAME = {flow.LEGACY_NAME: flow for flow in FLOWS.values()}


def flow_named(name: str) -> ModuleType:
    """The flow stored as `name` (today's name or the legacy one); KeyError if none."""
    flow = FLOWS.get(name) or _BY_LEGACY_NAME.get(name)
    if flow is None:
        raise KeyError(f"no flow named {name!r}")
    return flow


def notifications_for(verification: Verification, outcome: CallOutcome) -> list[Notification]:
    """What the verification's flow tells the customer about this outcome; a
    /v1 verification's events are the same whatever its flow (engine/v1_events.py)."""
    if verification.api == "v1":
        return v1_events.notifications(verification, outcome)
    try:
        flow = flow_named(verification.flow)
    except KeyError:
        return []
    return flow.notifications(verification, outcome)
