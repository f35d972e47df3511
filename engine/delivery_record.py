"""A delivery's record: what `new_delivery` stores for a verdict's callback
or webhook, and the `Delivery` the deliverer reads back (engine/delivery.py)."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from yarl import URL

from engine.egress import host_of

# A leased delivery is due again this long after its lease was taken.
LEASE_SECONDS = 60


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    method: str
    url: str
    body: str
    attempts: int
    created_at: float
    account_id: str = ""  # whose secrets sign it; none on deliveries stored before
    kind: str = ""
    refused: str = ""  # why it may not be sent at all (its URL could not be built)

    @classmethod
    def from_hash(cls, delivery_id: str, flat: list[bytes]) -> Delivery:
        """The stored delivery. A damaged record (a field missing or not a
        number) comes back `refused`, so the deliverer moves it to the dead
        list instead of failing on it at every lease."""
        raw = {flat[i].decode(errors="replace"): flat[i + 1].decode(errors="replace")
               for i in range(0, len(flat), 2)}
        refused = raw.get("refused", "")
        try:
            attempts, created_at = int(raw["attempts"]), float(raw["created_at"])
            raw["method"], raw["url"]
        except (KeyError, ValueError) as exc:
            attempts, created_at = 0, time.time()
            refused = f"a damaged record ({type(exc).__name__}: {exc})"
        return cls(delivery_id, raw.get("method", "GET"), raw.get("url", ""), raw.get("body", ""),
                   attempts, created_at, raw.get("account_id", ""), raw.get("kind", ""), refused)

    @classmethod
    def from_new(cls, new: dict) -> Delivery:
        """The delivery `new_delivery` described, as stored."""
        f = new["fields"]
        return cls(new["id"], f["method"], f["url"], f["body"], int(f["attempts"]),
                   float(f["created_at"]), f.get("account_id", ""), f["kind"],
                   f.get("refused", ""))

    @property
    def named(self) -> str:
        """How logs name it: id, kind and host (never the URL's path or query)."""
        return f"{self.delivery_id} ({self.kind or 'delivery'} to {host_of(self.url)})"


def new_delivery(method: str, url: str, *, params: dict | None = None,
                 payload: dict | None = None, kind: str = "", leased: bool = False,
                 account_id: str = "") -> dict:
    """A delivery's id, hash fields and due time; GET carries `params`, POST a JSON `payload`.

    It is signed with the secrets of `account_id` (engine/webhook_signing.py).

    A `leased` one is stored as leased to the process that creates it (see
    `Deliverer.hand_over`): due when the lease runs out, with no wake-up.
    A URL that cannot be built does not stop the verdict that sends it: the
    delivery is stored `refused`, and the deliverer moves it to the dead list.
    """
    refused = ""
    if params:
        try:
            url = str(URL(url).extend_query(params))
        except (ValueError, TypeError) as exc:
            refused = f"the URL cannot be built ({type(exc).__name__})"
    now = time.time()
    fields = {"method": method, "url": url, "kind": kind, "attempts": "0",
              "account_id": account_id,
              "body": json.dumps(payload) if payload is not None else "",
              "created_at": f"{now:.3f}"}
    if refused:
        fields["refused"] = refused
    return {"id": secrets.token_hex(8), "due": now + LEASE_SECONDS if leased else now,
            "wake": not leased, "fields": fields}
