"""Join logged decisions with their outcomes into rewards (``python -m training feedback``).

Rules (the reward definition is :mod:`modelio.reward`, per decision its model version's):

* shadow rows (``arm`` ``shadow:<version>``, ``modelio.logrecords``) are left out: no
  caller acted on them, so they are neither decisions nor counted;
* a decision_id seen more than once (a re-drained part, a retried write) counts once:
  the first decision row read and the first outcome *received* (``received_at``) win;
  the extra rows are counted as ``duplicates``;
* an outcome whose decision_id is in no decision is **unmatched**: counted, returned
  apart (written to ``unmatched_outcomes.parquet``), never joined;
* an outcome counts when its ``event_time`` is at most ``wait_s`` after the decision's
  ``ts`` (an earlier event time is caller clock skew and counts): **matched**, reward
  :func:`modelio.reward.reward_of`; a later one is **late** and does not count;
* a decision without a timely outcome gets ``default_reward`` (**defaulted**) once
  ``wait_s`` has passed (by ``now``, or by its late outcome); before that it is
  **pending** and left out of the dataset.

Counts of decisions: ``decisions = matched + defaulted + pending``; ``late ⊆ defaulted``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from modelio.logrecords import served_only
from modelio.reward import RewardConfig, reward_of
from training.feedback.dataset import BANDIT_SCHEMA, DECISION_COLUMNS


@dataclass(frozen=True)
class JoinCounts:
    """What the join saw (rows of the logs) and decided (per unique decision)."""

    decisions: int  # unique decision ids
    outcomes: int  # outcome rows read
    matched: int
    unmatched: int  # outcome rows whose decision is unknown
    duplicates: int  # duplicate_decisions + duplicate_outcomes
    duplicate_decisions: int
    duplicate_outcomes: int
    late: int
    defaulted: int
    pending: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class JoinResult:
    dataset: pa.Table  # BANDIT_SCHEMA, one row per matched or defaulted decision
    unmatched: pa.Table  # OUTCOME_SCHEMA rows
    counts: JoinCounts


def _utc(value: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def join_logs(
    decisions: pa.Table,
    outcomes: pa.Table,
    reward_for: Callable[[str], RewardConfig],
    now: datetime,
) -> JoinResult:
    """Apply the module's rules to the decision and outcome logs (see module doc)."""
    decisions = served_only(decisions)  # shadow rows are not decisions anyone acted on
    dec = decisions.select(["decision_id", "ts", "model_version"]).to_pandas()
    dec["row"] = np.arange(len(dec))
    dec = dec.drop_duplicates("decision_id", keep="first")
    out = outcomes.select(["decision_id", "received_at", "event_time"]).to_pandas()
    out["row"] = np.arange(len(out))
    known = out["decision_id"].isin(dec["decision_id"]).to_numpy()
    first = out[known].sort_values(["received_at", "row"], kind="stable")
    first = first.drop_duplicates("decision_id", keep="first")
    dup_out = int(len(out) - out["decision_id"].nunique())

    merged = dec.merge(
        first[["decision_id", "event_time", "row"]].rename(columns={"row": "outcome_row"}),
        on="decision_id",
        how="left",
    )
    configs = [reward_for(str(v)) for v in merged["model_version"]]
    wait = pd.to_timedelta([c.wait_s for c in configs], unit="s")
    deadline = merged["ts"] + wait
    has = merged["outcome_row"].notna().to_numpy()
    timely = has & (merged["event_time"] <= deadline).to_numpy()
    late = has & ~timely
    over = (deadline <= _utc(now)).to_numpy()
    defaulted = ~timely & (over | late)
    pending = ~timely & ~defaulted

    keep = timely | defaulted
    rows = merged.loc[keep, "row"].to_numpy(dtype=np.int64)
    kept_configs = [c for c, k in zip(configs, keep, strict=True) if k]
    outcome_rows = merged.loc[keep, "outcome_row"].to_numpy()
    rewards = _rewards(outcome_rows, timely[keep], kept_configs, outcomes)
    base = decisions.take(pa.array(rows, type=pa.int64())).select(list(DECISION_COLUMNS))
    dataset = base.append_column("reward", pa.array(rewards, type=pa.float64()))
    dataset = dataset.append_column("matched", pa.array(timely[keep], type=pa.bool_()))
    counts = JoinCounts(
        decisions=len(dec),
        outcomes=len(out),
        matched=int(timely.sum()),
        unmatched=int((~known).sum()),
        duplicates=int(decisions.num_rows - len(dec)) + dup_out,
        duplicate_decisions=int(decisions.num_rows - len(dec)),
        duplicate_outcomes=dup_out,
        late=int(late.sum()),
        defaulted=int(defaulted.sum()),
        pending=int(pending.sum()),
    )
    unmatched = outcomes.filter(pa.array(~known, type=pa.bool_()))
    return JoinResult(dataset.cast(BANDIT_SCHEMA), unmatched, counts)


def _rewards(
    outcome_rows: np.ndarray, timely: np.ndarray, configs: list[RewardConfig], outcomes: pa.Table
) -> list[float]:
    """reward_of(outcome) for timely outcomes, default_reward for the rest."""
    columns = outcomes.select(["resolved", "escalated", "csat"]).to_pylist()
    values: list[float] = []
    for outcome_row, ok, config in zip(outcome_rows, timely, configs, strict=True):
        if not ok:
            values.append(config.default_reward)
            continue
        o = columns[int(outcome_row)]
        values.append(reward_of(bool(o["resolved"]), bool(o["escalated"]), o["csat"], config))
    return values
