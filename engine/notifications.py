"""What a flow asks to be sent to the customer when a verification ends."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notification:
    kind: str
    method: str
    url: str
    params: dict | None = None
    payload: dict | None = None
