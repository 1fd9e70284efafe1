"""Latency statistics: an HDR histogram in microseconds plus outcome counters.

One :class:`LatencyStats` per client process; they travel between processes as plain
dicts (:meth:`LatencyStats.to_wire`) and merge exactly (:meth:`LatencyStats.merge`),
because an HDR histogram is a set of counters: merging two is adding them, so the
merged percentiles are the percentiles of the union of both samples.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000  # two minutes; larger values are clamped (and counted as such)
SIGNIFICANT_DIGITS = 3  # relative error of any reported percentile <= 0.1 %
INTERVAL_DIGITS = 2  # per-interval histograms: 1 % error, a tenth of the memory
MAX_MESSAGES = 50  # distinct error messages kept per stats object; more are lumped

#: Percentiles reported in every result and drawn by the bench's plot.
CURVE_PERCENTILES: tuple[float, ...] = (
    0.0,
    10.0,
    25.0,
    50.0,
    75.0,
    90.0,
    95.0,
    99.0,
    99.5,
    99.9,
    99.99,
    100.0,
)


class LatencyStats:
    """Latencies of successful calls, and calls counted by gRPC status code name (and
    by status and message: ``CODE|details``), with the summed latency of failed ones."""

    def __init__(self, digits: int = SIGNIFICANT_DIGITS) -> None:
        self.digits = digits
        self.hist = HdrHistogram(LOWEST_US, HIGHEST_US, digits)
        self.codes: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()
        self.max_us = 0
        self.min_us = 0
        self.clamped = 0
        self.error_us = 0.0  # summed latency of failed calls

    def record(self, latency_us: float) -> None:
        """Record one successful call that took ``latency_us`` microseconds."""
        value = max(LOWEST_US, round(latency_us))
        if value > HIGHEST_US:
            self.clamped += 1
            value = HIGHEST_US
        self.hist.record_value(value)
        self.min_us = min(self.min_us, value) if self.ok else value
        self.max_us = max(self.max_us, value)
        self.codes["OK"] += 1

    def record_error(self, code: str, latency_us: float = 0.0, message: str = "") -> None:
        """Count one failed call by its status code name (e.g. ``UNAVAILABLE``)."""
        self.codes[code] += 1
        self.error_us += latency_us
        self._count_message(f"{code}|{message}", 1)

    def _count_message(self, key: str, n: int) -> None:
        if key not in self.messages and len(self.messages) >= MAX_MESSAGES:
            key = key.partition("|")[0] + "|(other messages)"
        self.messages[key] += n

    @property
    def ok(self) -> int:
        return self.codes.get("OK", 0)

    @property
    def errors(self) -> dict[str, int]:
        """Failed calls by status code name (``OK`` excluded)."""
        return {code: n for code, n in sorted(self.codes.items()) if code != "OK"}

    @property
    def total(self) -> int:
        return sum(self.codes.values())

    def percentile(self, pct: float) -> int:
        """Latency in microseconds at percentile ``pct`` (0-100); 0 when empty.

        100 returns the exact maximum, not the HDR bucket's upper edge.
        """
        if self.hist.get_total_count() == 0:
            return 0
        if pct >= 100.0:
            return self.max_us
        return min(int(self.hist.get_value_at_percentile(pct)), self.max_us)

    def mean(self) -> float:
        return float(self.hist.get_mean_value()) if self.hist.get_total_count() else 0.0

    def mean_all(self) -> float:
        """Mean latency over every call, failed ones included (ghz's ``average``)."""
        return (self.mean() * self.ok + self.error_us) / self.total if self.total else 0.0

    def buckets(self, edges: list[float]) -> list[int]:
        """Successful calls per bucket: bucket i holds values <= edges[i] (and above
        edges[i-1]); values above the last edge go into the last bucket."""
        counts = [0] * len(edges)
        if not self.ok:
            return counts
        i = 0
        for item in self.hist.get_recorded_iterator():
            value = min(self.hist.get_highest_equivalent_value(item.value_iterated_to), self.max_us)
            while i < len(edges) - 1 and value > edges[i]:
                i += 1
            counts[i] += item.count_added_in_this_iter_step
        return counts

    def merge(self, other: LatencyStats) -> LatencyStats:
        """Add ``other``'s samples and counters into this one; return self."""
        if other.ok:
            self.min_us = min(self.min_us, other.min_us) if self.ok else other.min_us
        self.hist.add(other.hist)
        self.codes.update(other.codes)
        for key, n in other.messages.items():
            self._count_message(key, n)
        self.max_us = max(self.max_us, other.max_us)
        self.clamped += other.clamped
        self.error_us += other.error_us
        return self

    def to_wire(self) -> dict[str, Any]:
        """Picklable/JSON-able form for sending across processes."""
        return {
            "hist": self.hist.encode().decode("ascii"),
            "digits": self.digits,
            "codes": dict(self.codes),
            "messages": dict(self.messages),
            "max_us": self.max_us,
            "min_us": self.min_us,
            "clamped": self.clamped,
            "error_us": self.error_us,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LatencyStats:
        """Inverse of :meth:`to_wire`."""
        stats = cls(int(data.get("digits", SIGNIFICANT_DIGITS)))
        if data["codes"].get("OK"):
            stats.hist = HdrHistogram.decode(data["hist"].encode("ascii"))
        stats.codes.update(data["codes"])
        stats.messages.update(data.get("messages", {}))
        stats.max_us = int(data["max_us"])
        stats.min_us = int(data.get("min_us", 0))
        stats.clamped = int(data.get("clamped", 0))
        stats.error_us = float(data.get("error_us", 0.0))
        return stats

    def summary(self) -> dict[str, Any]:
        """The headline numbers: p50/p90/p99/p99.9/max in µs, counts and errors."""
        return {
            "ok": self.ok,
            "errors": self.errors,
            "error_count": self.total - self.ok,
            "p50_us": self.percentile(50.0),
            "p90_us": self.percentile(90.0),
            "p99_us": self.percentile(99.0),
            "p999_us": self.percentile(99.9),
            "max_us": self.max_us,
            "mean_us": round(self.mean(), 1),
            "curve": {str(p): self.percentile(p) for p in CURVE_PERCENTILES},
        }


def merge_all(parts: list[LatencyStats], digits: int = SIGNIFICANT_DIGITS) -> LatencyStats:
    """A new LatencyStats holding the union of ``parts``."""
    merged = LatencyStats(digits)
    for part in parts:
        merged.merge(part)
    return merged
