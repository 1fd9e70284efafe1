"""The highest open-loop rate a server sustains within a p99 latency limit.

Doubling from a start rate until a step fails, then geometric bisection between the
best passing and the lowest failing rate, within a fixed number of steps. A step
passes when no call failed (client backlog included) and p99, measured from the
scheduled send times, is within the limit. A failing rate is measured once more before
it counts as failed (a burst of outside load on a shared machine fails one short run;
it rarely fails two), unless the step budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Measure = Callable[[float], dict[str, Any]]


@dataclass(frozen=True)
class SearchSpec:
    """Bounds of one search."""

    p99_limit_us: int = 10_000
    start_rps: float = 200.0
    min_rps: float = 10.0
    max_rps: float = 50_000.0
    max_steps: int = 8  # measurements, retries included
    tolerance: float = 0.1  # stop when the failing rate is within 10 % of the passing one
    retry_failures: bool = True  # re-measure a failing rate once: outside noise is bursty


@dataclass
class SearchResult:
    """The best passing rate (0 if none) and every step taken."""

    max_rate_rps: float = 0.0
    first_failing_rps: float | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_rate_rps": self.max_rate_rps,
            "first_failing_rps": self.first_failing_rps,
            "steps": self.steps,
        }


def passes(result: dict[str, Any], spec: SearchSpec) -> bool:
    """No failed call and p99 within the limit (and something was measured)."""
    return result["error_count"] == 0 and result["ok"] > 0 and result["p99_us"] <= spec.p99_limit_us


def _next_rate(lo: float | None, hi: float | None, spec: SearchSpec) -> float | None:
    if hi is None:
        rate = (lo or spec.start_rps) * 2
        return rate if rate <= spec.max_rps else None
    if lo is None:
        rate = hi / 2
        return rate if rate >= spec.min_rps else None
    if hi <= lo * (1 + spec.tolerance):
        return None
    return math.sqrt(lo * hi)


def _step(measure: Measure, rate: float, spec: SearchSpec, out: SearchResult) -> bool:
    result = measure(rate)
    ok = passes(result, spec)
    out.steps.append(
        {
            "rate": round(rate, 1),
            "passed": ok,
            "p99_us": result["p99_us"],
            "p50_us": result["p50_us"],
            "errors": result["error_count"],
        }
    )
    return ok


def find_max_rate(measure: Measure, spec: SearchSpec) -> SearchResult:
    """Search with ``measure(rate) -> loadgen result``; at most ``spec.max_steps`` runs."""
    out = SearchResult()
    lo: float | None = None
    hi: float | None = None
    rate: float | None = spec.start_rps
    while rate is not None and len(out.steps) < spec.max_steps:
        ok = _step(measure, rate, spec, out)
        if not ok and spec.retry_failures and len(out.steps) < spec.max_steps:
            ok = _step(measure, rate, spec, out)
        if ok:
            lo = rate if lo is None else max(lo, rate)
        else:
            hi = rate if hi is None else min(hi, rate)
        rate = _next_rate(lo, hi, spec)
    out.max_rate_rps = round(lo or 0.0, 1)
    out.first_failing_rps = round(hi, 1) if hi is not None else None
    return out
