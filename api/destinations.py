"""What may be dialled, and what a reverse-verify call to it costs: the
toll-fraud guard both APIs share (docs/security.md, "What may be dialled").

A number is refused, in this order:
- REGION: its region (api/number_lookup.py; a number phonenumbers gives no
  region counts as its calling code's main region) is not in
  CALLVERIFY_REGIONS;
- NUMBER_TYPE: phonenumbers types it premium rate, shared cost, personal
  number, UAN or voicemail access, whatever the region;
- PREFIX: it starts with one of CALLVERIFY_BLOCKED_PREFIXES (an operator's
  own list of ranges).
Each API maps these to its own answers (reverse verify 8 / 7 / 7, the password
call 400 "country not supported" / "number not supported").
"""
from __future__ import annotations

from api import number_lookup
from api.number_lookup import destination
from engine.settings import Settings

REGION, NUMBER_TYPE, PREFIX = "region", "number_type", "prefix"


def prepare(settings: Settings) -> None:
    """Ready the number lookup for the regions served, before the first request."""
    if destination is number_lookup.fast_destination:
        number_lookup.prepare(settings.regions)


def refusal(country_code: str, e164: str, settings: Settings) -> str | None:
    """Why the E.164 number (digits, `country_code` first) may not be dialled, or None."""
    region, refused_type = destination(int(country_code), e164[len(country_code):])
    if region not in settings.regions:
        return REGION
    if refused_type:
        return NUMBER_TYPE
    if e164.startswith(tuple(settings.blocked_prefixes)):
        return PREFIX
    return None


def call_price(country_code: str, e164: str, settings: Settings) -> int:
    """The reverse-verify price of a call to the number: CALLVERIFY_CALL_PRICES'
    longest E.164 prefix the number starts with, else its region's entry there,
    else CALLVERIFY_CALL_PRICE."""
    prices = settings.call_prices
    if not prices:
        return settings.call_price
    for end in range(len(e164), 0, -1):
        price = prices.get(e164[:end])
        if price is not None:
            return int(price)
    region, _ = destination(int(country_code), e164[len(country_code):])
    return int(prices.get(region, settings.call_price))
