"""From the decision and outcome logs to per-arm, per-day running sums.

The rewards are the feedback join's (:func:`training.feedback.join.join_logs`: each
decision's reward under its model version's :class:`modelio.reward.RewardConfig`,
duplicates once, ``default_reward`` once the wait is over, pending decisions left out),
so "mean reward" means here what it means to training and off-policy evaluation.
Decisions outside experiments (``arm == ""``) are left out of every number, and so are
shadow rows (``arm == "shadow:<version>"``: no caller acted on them).
Days are UTC calendar days of the decision's ``ts``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from modelio.logrecords import served_only
from modelio.reward import RewardConfig
from training.feedback.join import join_logs


@dataclass(frozen=True)
class ArmSums:
    """Cumulative sums per arm (axis 0, ``arms`` order) and day (axis 1, ``days``)."""

    arms: list[str]
    days: list[str]  # ISO dates
    decisions: np.ndarray  # unique decisions logged (pending included), per arm (total)
    n: np.ndarray  # decisions with a reward (matched + defaulted), cumulative
    s: np.ndarray  # Σ reward
    ss: np.ndarray  # Σ reward²
    matched: np.ndarray  # decisions with a timely outcome
    escalated: np.ndarray  # of which escalated
    dataset: pa.Table  # the joined rows of the experiment's arms (BANDIT_SCHEMA)
    outside: int  # unique decisions outside experiments (arm "")


def arm_sums(
    decisions: pa.Table,
    outcomes: pa.Table,
    reward_for: Callable[[str], RewardConfig],
    now: datetime,
) -> ArmSums:
    """Join the logs and accumulate each arm's daily sums (see module doc)."""
    served = served_only(decisions)  # shadow rows are not arms (training.experiments.shadow)
    unique = served.select(["decision_id", "arm"]).to_pandas().drop_duplicates("decision_id")
    per_arm = unique[unique["arm"] != ""].groupby("arm").size()
    arms = sorted(str(a) for a in per_arm.index)
    result = join_logs(decisions, outcomes, reward_for, now)
    frame = result.dataset.select(["decision_id", "ts", "arm", "reward", "matched"]).to_pandas()
    in_exp = (frame["arm"] != "").to_numpy()
    dataset = result.dataset.filter(pa.array(in_exp, type=pa.bool_()))
    frame = frame[in_exp].copy()
    first = outcomes.select(["decision_id", "received_at", "escalated"]).to_pandas()
    first = first.sort_values("received_at", kind="stable").drop_duplicates("decision_id")
    esc = frame["decision_id"].map(first.set_index("decision_id")["escalated"])
    frame["escalated"] = (frame["matched"] & esc.eq(True)).astype(float)
    frame["day"] = pd.to_datetime(frame["ts"], utc=True).dt.strftime("%Y-%m-%d")
    frame["matched"] = frame["matched"].astype(float)
    frame["reward2"] = frame["reward"] ** 2
    days = sorted(frame["day"].unique().tolist())
    grid = pd.MultiIndex.from_product([arms, days], names=["arm", "day"])
    daily = (
        frame.groupby(["arm", "day"])
        .agg(
            n=("reward", "size"),
            s=("reward", "sum"),
            ss=("reward2", "sum"),
            matched=("matched", "sum"),
            escalated=("escalated", "sum"),
        )
        .reindex(grid, fill_value=0)
    )

    def cumulative(column: str) -> np.ndarray:
        values = daily[column].to_numpy(dtype=float).reshape(len(arms), len(days))
        return np.cumsum(values, axis=1)

    return ArmSums(
        arms=arms,
        days=days,
        decisions=np.array([int(per_arm[a]) for a in arms]),
        n=cumulative("n"),
        s=cumulative("s"),
        ss=cumulative("ss"),
        matched=cumulative("matched"),
        escalated=cumulative("escalated"),
        dataset=dataset,
        outside=int((unique["arm"] == "").sum()),
    )
