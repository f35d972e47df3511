"""Small statistics: nearest-rank percentiles and peak overlap of intervals."""
from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values.

    Nearest rank never invents a value: p99 of 30 samples is the largest one.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms_summary(seconds: Iterable[float]) -> dict:
    """p50 / p99 / max of durations given in seconds, in milliseconds."""
    values = [s * 1000 for s in seconds]
    out = {"n": len(values)}
    for name, p in (("p50", 50), ("p99", 99), ("max", 100)):
        v = percentile(values, p)
        out[name] = None if v is None else round(v, 1)
    return out


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at t closes before a start at t)."""
    edges = []
    for start, end in intervals:
        edges.append((start, 1))
        edges.append((max(start, end), -1))
    edges.sort(key=lambda e: (e[0], e[1]))
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak
