"""The variables a `password_call` webhook may carry, in their documented order.

The CLI validates subscriptions against this list and the engine builds the
call record from it, so both speak the same names.
"""
from __future__ import annotations

PASSWORD_CALL_FIELDS = (
    "verification_call_uuid", "phone_number", "caller_number", "q931_status",
    "final_status", "is_redirect", "start_time", "answer_time", "end_time",
    "duration", "billsec", "cost",
)
