"""The overload steps: callverify offered its knee, then 1.5x and 2x it (issue 18).

Past the knee the engine's admission window holds calls in the queue while
Asterisk sets calls up late, the accept step refuses what the engines cannot
start in time (HTTP 503, body 9), and jobs that waited too long end as
expired instead of being dialled. What must hold: no wrong verdict, every
accepted call dialled or ended explicitly, and calls still verified at no
less than 90 % of the knee's rate. This reports the counts that say so.

"Calls verified per second" is the rate of verdicts while they arrive: the
verified calls over the time from the first verdict to the last. Counted from
the first request instead, the span also holds one call's own length (ringing,
the prompt, the keys: about 7 s), which a step run exactly at the knee would
not pass either; that figure is reported beside it as `..._from_first_request`.

The knee comes from the sweep's 8 s steps, which end before the calls in
progress reach their steady number; a load held for 15 s is a harder one. So
the first step offers the knee itself for the same 15 s: the calls it verifies
per second are the knee's sustained rate, the reference the 1.5x and 2x steps
are held to (>= 90 %), beside their ratio to the knee's nominal rate.
"""
from __future__ import annotations

from collections import Counter

FACTORS = (1.0, 1.5, 2.0)  # the first: the knee's sustained rate, the reference
SECONDS = 15.0  # offered load per step: long enough for a backlog to build


def summary(step: dict, attempts: list, invited: set[str], knee: float,
            sustained: float | None = None) -> dict:
    """Counts of one overload step from the load generator's attempts; `sustained`:
    the calls verified per second with the knee offered (the 1x step)."""
    accepted = [a for a in attempts if a.accepted]
    matched = [a for a in accepted if a.verdict == "match"]
    sent = min((a.sent for a in attempts if a.sent), default=0.0)
    times = sorted(a.verdict_at for a in matched)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    whole = times[-1] - sent if times and times[-1] > sent else 0.0
    from_request = len(times) / whole if whole else 0.0
    return {
        "label": step["label"], "rate": step["rate"], "offered": len(attempts),
        "accepted": len(accepted),
        "refused": dict(Counter(a.response for a in attempts if not a.accepted)),
        "dialled": sum(a.number in invited for a in accepted),
        "matched": len(matched), "wrong": sum(a.verdict == "nomatch" for a in accepted),
        "not_dialled_ended": sum(bool(a.verdict) and a.number not in invited for a in accepted),
        "no_verdict": sum(not a.verdict for a in accepted),
        "verified_per_s": round(rate, 1),
        "verified_rate_over_knee": round(rate / knee, 3) if knee else None,
        "verified_per_s_from_first_request": round(from_request, 1),
        "verified_rate_over_sustained_knee": round(rate / sustained, 3) if sustained else None,
    }
