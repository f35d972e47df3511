"""Which rate a system's sweep tries next, to find its knee in few steps.

A system climbs the coarse rates until one fails; then the rates between its
last clean rate and that failure are bisected a few times (to a multiple of
`grain`), so the knee is known to within a few calls per second on a fast
machine and a slow one alike, without a long fixed list of rates.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RatePlan:
    """One system's sweep: `next_rate()`, run it, `record(rate, passed)`, again."""

    coarse: list[float]
    refinements: int = 2
    grain: float = 5.0
    clean: float | None = None     # highest rate passed (every lower one tried passed)
    failed: float | None = None    # lowest rate failed
    tried: list[float] = field(default_factory=list)

    def next_rate(self) -> float | None:
        """The next rate to try, or None when the knee is as known as planned."""
        if self.failed is None:
            left = [r for r in self.coarse if r not in self.tried]
            return left[0] if left else None
        if self.refinements <= 0 or self.clean is None:
            return None
        mid = round((self.clean + self.failed) / 2 / self.grain) * self.grain
        if not self.clean < mid < self.failed:
            return None
        return mid

    def record(self, rate: float, passed: bool) -> None:
        if self.failed is not None:
            self.refinements -= 1
        self.tried.append(rate)
        if passed:
            self.clean = rate
        else:
            self.failed = rate
