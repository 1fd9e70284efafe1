"""Shewhart p-charts: a rate per window against 3-sigma limits from a baseline.

The center line ``p̄`` is a baseline rate (the pooled rate of the first K windows, or a
training rate); each window ``i`` with ``n_i`` trials gets its own limits
``p̄ ± 3·sqrt(p̄(1 - p̄)/n_i)`` clipped to [0, 1]. A window outside them is out of control.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIGMAS = 3.0


def p_limits(center: float, n: np.ndarray, sigmas: float = SIGMAS) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) control limits of a p-chart for trials ``n`` per window."""
    n = np.asarray(n, dtype=np.float64)
    half = sigmas * np.sqrt(center * (1.0 - center) / np.where(n > 0, n, np.nan))
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


def baseline_rate(hits: np.ndarray, n: np.ndarray, windows: int) -> float:
    """Pooled rate of the first ``windows`` windows (sum of hits / sum of trials)."""
    if windows < 1:
        raise ValueError("a baseline needs at least one window")
    total = float(np.sum(n[:windows]))
    if total <= 0:
        raise ValueError(f"the first {windows} windows hold no trials")
    return float(np.sum(hits[:windows])) / total


@dataclass(frozen=True)
class PChart:
    """One p-chart: the rate per window, its center line and limits, and the verdict."""

    name: str
    rate: np.ndarray
    n: np.ndarray
    center: float
    lower: np.ndarray
    upper: np.ndarray

    @property
    def out_of_control(self) -> np.ndarray:
        """Windows with trials whose rate lies outside the limits."""
        has = self.n > 0
        return has & ((self.rate < self.lower) | (self.rate > self.upper))


def p_chart(name: str, hits: np.ndarray, n: np.ndarray, center: float) -> PChart:
    """The p-chart of ``hits`` out of ``n`` per window around ``center``."""
    hits, n = np.asarray(hits, dtype=np.float64), np.asarray(n, dtype=np.float64)
    rate = np.divide(hits, n, out=np.full(len(n), np.nan), where=n > 0)
    lower, upper = p_limits(center, n)
    return PChart(name, rate, n, center, lower, upper)
