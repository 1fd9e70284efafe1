"""Metrics kept as plain ints under one lock and turned into Prometheus families only when
scraped: the live decision metrics per model version and arm (counted per batch) and
the request-path timings (RPCs, feature reads).

The decision metrics are what the batch monitor (``python -m training monitor``) computes
from the logs, but live: the escalation-probability distribution, the chosen action's
predicted success, the action mix and the segment mix, so a dashboard sees drift
between monitor runs.

Why not prometheus_client's ``Counter``/``Histogram`` children: each ``inc``/``observe``
takes its own locks and a histogram walks its buckets (about 1 µs per observation, four
per decision). :class:`DecisionStats` takes ONE lock per batch, :class:`Timings` one per
observation, and both keep plain ints (a ``bisect`` per histogram value).

==============================================  =========  ===========================
metric (DecisionStats)                          type       labels
==============================================  =========  ===========================
personalization_decisions_total                 counter    model_version, arm, action,
                                                           personalized, degraded
personalization_escalation_probability          histogram  model_version, arm
personalization_action_predicted_success        histogram  model_version, arm (of the
                                                           chosen action)
personalization_segments_total                  counter    model_version, arm, segment
==============================================  =========  ===========================

``personalized`` and ``degraded`` are ``"true"``/``"false"``; ``arm`` is ``""`` without
an experiment. Shadow versions answer nobody and are not counted here (their scores are
in the decision log).
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

#: Upper bounds of both score histograms (probabilities): 0.05 wide, +Inf above.
BOUNDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 21))
_LABELS = ("model_version", "arm")
_FLAG = {True: "true", False: "false"}


class _Risk(Protocol):
    @property
    def probability(self) -> float: ...


class _Action(Protocol):
    @property
    def action(self) -> str: ...
    @property
    def predicted_success(self) -> float: ...


class _Segment(Protocol):
    @property
    def name(self) -> str: ...


class Decided(Protocol):
    """What is read of a decision (``server.engine.types.Decision``)."""

    @property
    def model_version(self) -> str: ...
    @property
    def arm(self) -> str: ...
    @property
    def escalation_risk(self) -> _Risk: ...
    @property
    def next_best_action(self) -> _Action: ...
    @property
    def segment(self) -> _Segment: ...
    @property
    def personalized(self) -> bool: ...
    @property
    def degraded_reasons(self) -> Sequence[str]: ...


class _Tally:
    """Counts of one (model_version, arm); buckets are per bin, not cumulative."""

    __slots__ = ("actions", "risk", "risk_sum", "segments", "success", "success_sum")

    def __init__(self) -> None:
        self.risk = [0] * (len(BOUNDS) + 1)
        self.success = [0] * (len(BOUNDS) + 1)
        self.risk_sum = 0.0
        self.success_sum = 0.0
        self.actions: dict[tuple[str, bool, bool], int] = {}
        self.segments: dict[str, int] = {}


class DecisionStats(Collector):
    """Thread-safe decision counts; register it once (``REGISTRY.register``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[tuple[str, str], _Tally] = {}

    def observe(self, decisions: Iterable[Decided]) -> int:
        """Count a batch of decisions (one lock for the whole batch); return how many of
        them were degraded."""
        tallies, degraded = self._tallies, 0
        with self._lock:
            for d in decisions:
                key = (d.model_version, d.arm)
                tally = tallies.get(key)
                if tally is None:
                    tally = tallies[key] = _Tally()
                risk = d.escalation_risk.probability
                tally.risk[bisect_left(BOUNDS, risk)] += 1
                tally.risk_sum += risk
                nba = d.next_best_action
                success = nba.predicted_success
                tally.success[bisect_left(BOUNDS, success)] += 1
                tally.success_sum += success
                kind = (nba.action, d.personalized, bool(d.degraded_reasons))
                tally.actions[kind] = tally.actions.get(kind, 0) + 1
                degraded += kind[2]
                name = d.segment.name
                tally.segments[name] = tally.segments.get(name, 0) + 1
        return degraded

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # copy under the lock, build the families outside it
            rows = [
                (key, list(t.risk), t.risk_sum, list(t.success), t.success_sum, dict(t.actions))
                for key, t in self._tallies.items()
            ]
            names = {key: dict(t.segments) for key, t in self._tallies.items()}
        decisions = CounterMetricFamily(
            "personalization_decisions",
            "Decisions answered, by model version, arm, action, personalized and degraded; "
            "a DecideBatch counts one per request.",
            labels=[*_LABELS, "action", "personalized", "degraded"],
        )
        risk = HistogramMetricFamily(
            "personalization_escalation_probability",
            "Escalation probability of each decision, by model version and arm.",
            labels=list(_LABELS),
        )
        success = HistogramMetricFamily(
            "personalization_action_predicted_success",
            "Predicted success of each decision's chosen action, by model version and arm.",
            labels=list(_LABELS),
        )
        segments = CounterMetricFamily(
            "personalization_segments",
            "Decisions by customer segment, model version and arm.",
            labels=[*_LABELS, "segment"],
        )
        for key, risk_bins, risk_sum, success_bins, success_sum, actions in rows:
            risk.add_metric(list(key), _cumulative(risk_bins), risk_sum)
            success.add_metric(list(key), _cumulative(success_bins), success_sum)
            for (action, personalized, degraded), count in actions.items():
                labels = [*key, action, _FLAG[personalized], _FLAG[degraded]]
                decisions.add_metric(labels, count)
            for name, count in names[key].items():
                segments.add_metric([*key, name], count)
        yield from (decisions, risk, success, segments)


def _cumulative(bins: list[int], bounds: tuple[float, ...] = BOUNDS) -> list[tuple[str, float]]:
    """Per-bin counts (one more bin than ``bounds``: above the last) as Prometheus ``le``
    buckets (cumulative, ending with +Inf)."""
    out, total = [], 0
    for bound, count in zip(bounds, bins, strict=False):
        total += count
        out.append((repr(bound), float(total)))
    out.append(("+Inf", float(total + bins[-1])))
    return out


class Timings(Collector):
    """A histogram family of durations in seconds, keyed by its label values."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], bounds: Sequence[float]
    ) -> None:
        self._name, self._doc, self._labels = name, documentation, list(labels)
        self._bounds = tuple(bounds)
        self._lock = threading.Lock()
        self._bins: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = {}

    def declare(self, *key: str) -> None:
        """Export ``key``'s series (at zero) before its first observation."""
        with self._lock:
            self._bins.setdefault(key, [0] * (len(self._bounds) + 1))
            self._sums.setdefault(key, 0.0)

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        """One duration of the series ``key`` (its label values, in order)."""
        with self._lock:
            bins = self._bins.get(key)
            if bins is None:
                bins = self._bins[key] = [0] * (len(self._bounds) + 1)
                self._sums[key] = 0.0
            bins[bisect_left(self._bounds, seconds)] += 1
            self._sums[key] += seconds

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            rows = [(key, list(bins), self._sums[key]) for key, bins in self._bins.items()]
        family = HistogramMetricFamily(self._name, self._doc, labels=self._labels)
        for key, bins, seconds in rows:
            family.add_metric(list(key), _cumulative(bins, self._bounds), seconds)
        yield family
