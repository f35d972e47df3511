"""What each flow tells the customer when a verification ends, in its API's words."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from engine.outcome import CallOutcome, called_in_reason, mcn_status


@dataclass(frozen=True)
class Notification:
    kind: str
    method: str
    url: str
    params: dict | None = None
    payload: dict | None = None


def called_in_callback(verification: dict[str, str], outcome: CallOutcome) -> list[Notification]:
    """The reverse-verify callback: GET with the seed's six parameters."""
    if not verification.get("callback_url"):
        return []
    params = {"phone_number": verification["phone_number"],
              "country_code": verification["country_code"],
              "secret": verification.get("secret", ""),
              "match": "1" if outcome.matched else "0",
              "answered": "1" if outcome.answered else "0",
              "reason": called_in_reason(outcome)}
    return [Notification("reverse_verify_callback", "GET", verification["callback_url"], params=params)]


def _iso(epoch: float) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def password_call_record(verification: dict[str, str], outcome: CallOutcome) -> dict:
    """Every variable the password-call webhook can carry.

    `cost` is the price charged (integer units in the record) in currency:
    units / money_scale, the scale the API recorded with the price.
    """
    money_scale = int(verification.get("money_scale") or 10000)
    q931, final = mcn_status(outcome)
    start = outcome.placed_at
    end = outcome.ended_at
    charged = outcome.failure != "billing"
    return {
        "verification_call_uuid": f"{verification['id']}_{verification['account_id']}",
        "phone_number": verification["phone_number"],
        "caller_number": verification["caller_number"],
        "q931_status": q931,
        "final_status": final,
        "is_redirect": outcome.is_redirect,
        "start_time": _iso(start),
        "answer_time": _iso(outcome.answered_at),
        "end_time": _iso(end),
        "duration": round(end - start) if start and end else 0,
        "billsec": round(end - outcome.answered_at) if outcome.answered_at and end else 0,
        "cost": int(verification.get("price") or 0) / money_scale if charged else 0,
    }


def password_call_webhook(verification: dict[str, str], outcome: CallOutcome) -> list[Notification]:
    """The password-call CDR, POSTed as JSON with the subscription's fields only."""
    url = verification.get("webhook_url")
    if not url:
        return []
    record = password_call_record(verification, outcome)
    wanted = json.loads(verification.get("webhook_fields") or "null") or list(record)
    payload = {name: record[name] for name in wanted if name in record}
    return [Notification("password_call_webhook", "POST", url, payload=payload)]


NOTIFIERS = {"dtmf": called_in_callback, "cli": password_call_webhook}


def notifications_for(verification: dict[str, str], outcome: CallOutcome) -> list[Notification]:
    notifier = NOTIFIERS.get(verification.get("flow", ""))
    return notifier(verification, outcome) if notifier else []
