"""The verification record: the one schema of `cv:verification:<id>`.

Every part reads and writes a verification through `Verification`; in Redis
it is a hash of strings (`to_hash` / `from_hash`), the call's outcome under
`outcome_*` names. A field at its default is not stored.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from engine.outcome import CallOutcome

OUTCOME_PREFIX = "outcome_"
# Fields only the call needs, dropped at the verdict (with its webhook built):
# the code a password call speaks, and the calling number that ends with it.
CALL_ONLY_FIELDS = ("spoken_code", "caller_number")


@dataclass(slots=True)
class Verification:
    flow: str
    id: str = ""
    account_id: str = ""
    e164: str = ""  # the dialled number: E.164 digits, no plus
    status: str = ""  # queued, calling, done; refused (no call was placed)
    created_at: float = 0.0
    # What the client asked for (reverse verify and password call)
    phone_number: str = ""  # as the client sent it
    country_code: str = ""
    caller_id: str = ""
    callback_url: str = ""
    secret: str = ""
    code_hmac: str = ""
    code_len: int = 0
    caller_number: str = ""
    spoken_code: str = ""
    is_with_redirect: bool = False
    ring_seconds: float = 0.0
    price: int = 0  # units charged at the accept step
    money_scale: int = 0
    webhook_url: str = ""
    webhook_fields: str = ""  # JSON list of the webhook's fields
    # The native API (/v1): `api` "v1", its channel (keypad, caller_id, voice),
    # the prompts' locale ("" is English), when its checks stop being taken,
    # and the checks made so far (api/v1_*.py, engine/v1_status.py).
    api: str = ""
    channel: str = ""
    locale: str = ""
    expires_at: float = 0.0
    checks: int = 0
    # What the engine found
    channel_id: str = ""
    progress: str = ""  # ringing, answered, ended
    is_redirect: bool = False
    finished_at: float = 0.0
    refunded: int = 0  # units given back: a job not dialled
    # A /v1 verification's end decided after (or without) the call's verdict:
    # verified or failed by its checks, expired, canceled; with its reason and time.
    final: str = ""
    final_reason: str = ""
    final_at: float = 0.0
    outcome: CallOutcome | None = None

    def to_hash(self) -> dict[str, str]:
        """The fields not at their default, as Redis hash fields."""
        stored = {}
        for name, kind, default in _SCALARS:
            value = getattr(self, name)
            if value != default:
                stored[name] = str(int(value)) if kind is bool else str(value)
        if self.outcome is not None:
            stored.update(self.outcome.to_fields())
        return stored

    @classmethod
    def from_hash(cls, raw: dict) -> Verification:
        """A verification from its hash (bytes or str names and values)."""
        text = {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}
        values: dict = {}
        has_outcome = False
        for name, value in text.items():
            kind = _KINDS.get(name)
            if kind is None:
                has_outcome = has_outcome or name.startswith(OUTCOME_PREFIX)
                continue  # a field of a later or earlier version: kept in Redis, not here
            values[name] = (value == "1" if kind is bool else kind(value) if value else kind())
        verification = cls(**{"flow": "", **values})
        if has_outcome:
            verification.outcome = CallOutcome.from_fields(text)
        return verification


# Field.type is the annotation's text here (`from __future__ import annotations`).
_TYPES: dict[str | type, type] = {"str": str, "int": int, "float": float, "bool": bool}
_SCALARS = tuple((f.name, _TYPES[f.type], f.default) for f in fields(Verification)
                 if f.name != "outcome")
_KINDS = {name: kind for name, kind, _ in _SCALARS}
