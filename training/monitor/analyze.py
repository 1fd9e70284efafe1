"""One monitoring pass over the decision and outcome logs (``python -m training monitor``).

Per window (:mod:`training.monitor.windows`) of the decisions (one row per decision id):

* PSI (:mod:`training.monitor.psi`) of every escalation input (the logged ``inputs``, in
  manifest order), of the escalation probability and of each action's predicted success
  (``scores``) against the serving version's training distributions;
* p-charts (:mod:`training.monitor.charts`) of the resolution rate (resolved without
  escalation) and escalation rate of the decisions with a timely outcome (the feedback
  join, :func:`training.feedback.join.join_logs`, with the version's ``wait_s``), and of
  each action's share of the decisions. Center lines: the pooled first
  ``baseline_windows`` windows, or with 0 the manifest's training rates and action mix.

PSI reference: the training distributions (``reference="training"``, the default), or
the pooled first ``baseline_windows`` windows binned the same way (``"baseline"``: what
changed since monitoring began, blind to a skew present from the start). Calendar
inputs (:data:`CALENDAR_INPUTS`) are reported but never alarm: a window shorter than a
week cannot hold the training mix of hours and weekdays.

Alarms: PSI above 0.2 (``psi``), a p-chart point outside its limits (``p_chart``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from modelio.context import CALENDAR_INPUTS, ESCALATION_CONVERSATION_INPUTS, ESCALATION_INPUTS
from modelio.distributions import Binned
from modelio.manifest import Manifest
from modelio.reward import RewardConfig
from modelio.vocab import ACTIONS
from training.feedback.join import join_logs
from training.monitor.charts import PChart, baseline_rate, p_chart
from training.monitor.fit import ESCALATION_SCORE, score_name
from training.monitor.psi import DRIFT, psi_columns, status
from training.monitor.windows import WindowSpec, assign

REFERENCES = ("training", "baseline")


class MonitorError(ValueError):
    """The logs or the version cannot be monitored (empty, wrong shape, no distributions)."""


@dataclass(frozen=True)
class Monitored:
    """Everything a pass computed (the JSON summary is :meth:`summary`)."""

    windows: list[dict[str, Any]]
    psi: dict[str, list[float]]
    charts: list[PChart]
    alarms: list[dict[str, Any]]
    watch: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {
            "windows": self.windows,
            "psi": {k: [round(v, 4) for v in vs] for k, vs in self.psi.items()},
            "charts": {c.name: _chart_json(c) for c in self.charts},
            "alarms": self.alarms,
            "watch": self.watch,
        }


def _chart_json(chart: PChart) -> dict[str, Any]:
    return {
        "center": round(chart.center, 5),
        "rate": [None if np.isnan(r) else round(float(r), 5) for r in chart.rate],
        "n": chart.n.astype(int).tolist(),
        "lower": [round(float(v), 5) for v in np.nan_to_num(chart.lower)],
        "upper": [round(float(v), 5) for v in np.nan_to_num(chart.upper, nan=1.0)],
    }


def _columns(decisions: pa.Table) -> dict[str, np.ndarray]:
    """Input and score columns of the decisions, by distribution name."""
    x = np.asarray(decisions.column("inputs").to_pylist(), dtype=np.float64)
    widths = (len(ESCALATION_INPUTS), len(ESCALATION_CONVERSATION_INPUTS))
    if x.ndim != 2 or x.shape[1] not in widths:
        raise MonitorError(
            f"logged inputs have shape {x.shape}, not (n, {' or '.join(map(str, widths))})"
        )
    # a version with conversation inputs logs them after the turn's; the reference bins
    # the turn's inputs (training.monitor.fit), so those are compared
    out = {name: x[:, j] for j, name in enumerate(ESCALATION_INPUTS)}
    out[ESCALATION_SCORE] = decisions.column("escalation_probability").to_numpy()
    scores = np.asarray(decisions.column("scores").to_pylist(), dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == len(ACTIONS):
        out.update({score_name(a): scores[:, i] for i, a in enumerate(ACTIONS)})
    return out


def _always(config: RewardConfig) -> Callable[[str], RewardConfig]:
    """The same reward config for every model version."""
    return lambda _version: config


def _outcome_hits(
    decisions: pa.Table, outcomes: pa.Table, wait_s: float, window: dict[str, int], k: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(hits, trials) per window of resolution and escalation among timely outcomes."""
    indicators = {
        "resolution_rate": RewardConfig(wait_s=wait_s),
        "escalation_rate": RewardConfig(wait_s=wait_s, resolved_reward=0.0, escalated_reward=1.0),
    }
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, config in indicators.items():
        joined = join_logs(decisions, outcomes, _always(config), datetime.now(UTC))
        matched = joined.dataset.filter(joined.dataset.column("matched"))
        where = np.array([window[d] for d in matched.column("decision_id").to_pylist()], dtype=int)
        reward = matched.column("reward").to_numpy()
        out[name] = (np.bincount(where, reward, k), np.bincount(where, minlength=k).astype(float))
    return out


def _baseline_bins(
    binned: dict[str, Binned], columns: dict[str, np.ndarray], rows: np.ndarray
) -> dict[str, Binned]:
    """The training bins with the shares of the baseline rows instead."""
    if not rows.any():
        raise MonitorError("a baseline PSI reference needs --baseline-windows K > 0")
    return {
        name: b.model_copy(update={"shares": b.shares_of(columns[name][rows]).tolist()})
        for name, b in binned.items()
        if name in columns
    }


def analyze(
    decisions: pa.Table,
    outcomes: pa.Table,
    manifest: Manifest,
    spec: WindowSpec,
    baseline_windows: int = 3,
    reference: str = "training",
    include_calendar: bool = False,
) -> Monitored:
    """Windows, PSI, p-charts and alarms of the logs against ``manifest`` (module doc)."""
    dist = manifest.distributions
    if not dist.inputs:
        raise MonitorError(f"{manifest.version}: manifest has no training distributions (retrain)")
    ids = decisions.column("decision_id").to_pylist()
    _, first = np.unique(np.asarray(ids, dtype=object), return_index=True)
    decisions = decisions.take(pa.array(np.sort(first)))
    if decisions.num_rows == 0:
        raise MonitorError("no decisions in the log")
    ts = decisions.column("ts").cast(pa.int64()).to_numpy()
    index, starts = assign(ts, spec)
    k = len(starts)
    if baseline_windows > 0 and k <= baseline_windows:
        raise MonitorError(f"{k} windows: need more than the {baseline_windows} baseline windows")
    columns = _columns(decisions)
    binned = {**dist.inputs, **dist.scores}
    if reference == "baseline":
        binned = _baseline_bins(binned, columns, index < baseline_windows)
    elif reference != "training":
        raise MonitorError(f"reference {reference!r}: use one of {REFERENCES}")
    per_window = [
        psi_columns(binned, {n: c[index == w] for n, c in columns.items()}) for w in range(k)
    ]
    psi = {name: [p[name] for p in per_window] for name in per_window[0]}
    labels = [datetime.fromtimestamp(s / 1e6, UTC).isoformat() for s in starts]
    window_of = dict(zip(decisions.column("decision_id").to_pylist(), index.tolist(), strict=True))
    hits = _outcome_hits(decisions, outcomes, manifest.policy.reward.wait_s, window_of, k)
    actions = decisions.column("action_index").to_numpy()
    n_dec = np.bincount(index, minlength=k).astype(float)
    for i, a in enumerate(ACTIONS):
        hits[f"action_share:{a}"] = (np.bincount(index[actions == i], minlength=k), n_dec)
    training = {
        "resolution_rate": dist.rates.get("resolution"),
        "escalation_rate": dist.rates.get("escalation"),
        **{f"action_share:{a}": dist.action_mix.get(a) for a in ACTIONS},
    }
    charts = []
    for name, (h, n) in hits.items():
        center = baseline_rate(h, n, baseline_windows) if baseline_windows else training[name]
        if center is None:
            raise MonitorError(f"no training rate for {name}; use --baseline-windows K > 0")
        charts.append(p_chart(name, h, n, center))
    windows = [
        {
            "index": w,
            "start": labels[w],
            "decisions": int(n_dec[w]),
            "outcomes": int(hits["resolution_rate"][1][w]),
        }
        for w in range(k)
    ]
    alarms: list[dict[str, Any]] = []
    watch: list[dict[str, Any]] = []
    for name, values in psi.items():
        if name in CALENDAR_INPUTS and not include_calendar:
            continue
        for w, value in enumerate(values):
            entry = {"window": labels[w], "kind": "psi", "name": name, "limit": DRIFT}
            entry["value"] = round(value, 4)
            if status(value) != "ok":
                (alarms if status(value) == "drift" else watch).append(entry)
    for chart in charts:
        for w in map(int, np.flatnonzero(chart.out_of_control)):
            high = chart.rate[w] > chart.upper[w]
            limit = chart.upper[w] if high else chart.lower[w]
            alarms.append(
                {"window": labels[w], "kind": "p_chart", "name": chart.name,
                 "value": round(float(chart.rate[w]), 5), "limit": round(float(limit), 5)}
            )  # fmt: skip
    alarms.sort(key=lambda a: (a["window"], a["kind"], a["name"]))
    return Monitored(windows, psi, charts, alarms, watch)
