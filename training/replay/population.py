"""The simulated population as the online store serves it: who the replay turns come from.

Customers, their latent variables (``truth/customers.parquet``) and their features as
of the materialized snapshot (the latest row of every feature view at or before it,
found with the simulator's own point-in-time join, :func:`training.sim.join.join_features`).
:func:`state_from_features` turns joined feature rows plus a turn context into the
per-ticket ``state`` dict that :mod:`training.sim.truth` is defined on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelio.vocab import ISSUE_CATEGORIES, PLAN_TIERS
from training.sim.config import TIMEZONES
from training.sim.join import join_features

#: state key -> feature column (block.ticket_state's profile and engagement names).
PROFILE_STATE = {
    "tier": "plan_tier",
    "spend": "monthly_spend",
    "tenure": "tenure_months",
    "ltv": "lifetime_value",
    "products": "num_products",
    "consent": "personalization_consent",
}
ENGAGEMENT_STATE = {
    "active_days": "active_days_28d",
    "sessions": "sessions_28d",
    "page_views": "page_views_28d",
    "minutes": "minutes_28d",
    "product_usage": "product_usage_28d",
}
#: Support-history features the truth reads (outcomes.HISTORY); counts are 0 without rows.
HISTORY_COUNTS = (
    "tickets_30d",
    "tickets_90d",
    "escalations_90d",
    "billing_tickets_90d",
    "technical_tickets_90d",
)
HISTORY_VALUES = ("avg_resolution_hours_90d", "avg_sentiment_90d", "last_csat")
_BILLING, _TECH = ISSUE_CATEGORIES.index("billing"), ISSUE_CATEGORIES.index("technical")


def customer_state(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Profile, engagement and support-history state of joined feature rows."""
    out: dict[str, np.ndarray] = {
        "tier": frame["plan_tier"].map(PLAN_TIERS.index).to_numpy(dtype=np.int64),
        "consent": frame["personalization_consent"].to_numpy(dtype=bool),
    }
    for key, column in {**PROFILE_STATE, **ENGAGEMENT_STATE}.items():
        if key not in out:
            out[key] = frame[column].to_numpy(dtype=np.float64)
    for name in HISTORY_COUNTS:
        out[name] = frame[name].fillna(0).to_numpy(dtype=np.float64)
    for name in HISTORY_VALUES:
        out[name] = frame[name].to_numpy(dtype=np.float64)
    return out


def count_turn(state: dict[str, np.ndarray]) -> None:
    """Count the current turn in the history, in place (as a ticket's own row does).

    The simulator's state at a ticket's open time already counts that ticket
    (``tickets_30d >= 1``); the online store, materialized before the turn, does not.
    """
    cat = state["category"]
    state["tickets_30d"] = state["tickets_30d"] + 1
    state["tickets_90d"] = state["tickets_90d"] + 1
    state["billing_tickets_90d"] = state["billing_tickets_90d"] + (cat == _BILLING)
    state["technical_tickets_90d"] = state["technical_tickets_90d"] + (cat == _TECH)


def state_from_features(
    customer: dict[str, np.ndarray],
    context: dict[str, np.ndarray],
    patience: np.ndarray,
    turn_counted: bool,
) -> dict[str, np.ndarray]:
    """The truth's state: customer features + turn context + latent patience.

    ``turn_counted`` says whether the history rows already include the turn (a joined
    historical ticket) or not (the online store during a replay, see :func:`count_turn`).
    """
    state = {**customer, **context, "patience": np.asarray(patience, dtype=np.float64)}
    if not turn_counted:
        count_turn(state)
    return state


def snapshot_time(data_dir: Path) -> int:
    """The materialized snapshot: the last engagement snapshot (the data's end), Unix s."""
    stamps = pq.read_table(data_dir / "engagement.parquet", columns=["event_timestamp"])
    latest = pc.max(stamps["event_timestamp"]).as_py()
    return int(pd.Timestamp(latest).timestamp())


@dataclass(frozen=True)
class Population:
    """Every simulated customer with latent variables and served features (row-aligned)."""

    ids: np.ndarray  # customer_id strings
    archetype: np.ndarray
    zone: np.ndarray  # index into training.sim.config.TIMEZONES
    patience: np.ndarray
    ticket_rate: np.ndarray
    features: dict[str, np.ndarray]  # customer_state() as of snapshot_s
    snapshot_s: int

    def __len__(self) -> int:
        return len(self.ids)


def load_population(data_dir: Path, snapshot_s: int | None = None) -> Population:
    """Read ``data_dir`` (a simulate output) and join every customer's features at the
    snapshot (default: :func:`snapshot_time`)."""
    at = snapshot_time(data_dir) if snapshot_s is None else int(snapshot_s)
    truth = pd.read_parquet(data_dir / "truth" / "customers.parquet")
    entities = pd.DataFrame(
        {
            "customer_id": truth["customer_id"],
            "event_timestamp": pd.Timestamp(at, unit="s", tz="UTC").as_unit("ns"),
        }
    )
    joined = join_features(entities, data_dir).set_index("customer_id").loc[truth["customer_id"]]
    zones = {name: i for i, name in enumerate(TIMEZONES)}
    return Population(
        ids=truth["customer_id"].to_numpy(dtype=str),
        archetype=truth["archetype"].to_numpy(dtype=np.int64),
        zone=truth["timezone"].map(zones).to_numpy(dtype=np.int64),
        patience=truth["patience"].to_numpy(dtype=np.float64),
        ticket_rate=truth["ticket_rate"].to_numpy(dtype=np.float64),
        features=customer_state(joined.reset_index()),
        snapshot_s=at,
    )
