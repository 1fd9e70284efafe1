"""Point-in-time join of tickets with the feature-view sources, for the simulator checks.

This mimics what a Feast historical retrieval returns (latest row at or before the
entity timestamp, no TTL) with pandas ``merge_asof``, then encodes every row with
:func:`modelio.context.encode_inputs`, the same code the server runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from modelio.context import TurnContext, encode_inputs
from modelio.vocab import ENGAGEMENT_FEATURES, PROFILE_FEATURES, SUPPORT_FEATURES

_FV = (
    ("customer_profile", PROFILE_FEATURES),
    ("support_history", SUPPORT_FEATURES),
    ("engagement", ENGAGEMENT_FEATURES),
)


def _asof(left: pd.DataFrame, right: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    right = right[["customer_id", "event_timestamp", *features]].sort_values("event_timestamp")
    return pd.merge_asof(
        left,
        right,
        on="event_timestamp",
        by="customer_id",
        direction="backward",
        allow_exact_matches=True,
    )


def join_features(entities: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """``entities`` (customer_id, event_timestamp, ...) with every raw FV feature as of then."""
    out = entities.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    for name, features in _FV:
        out = _asof(out, pd.read_parquet(data_dir / f"{name}.parquet"), features)
    return out


def _raw(row: dict) -> dict:
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


def encode_frame(df: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    """Matrix of model inputs ``names`` for joined ticket rows (row by row, like serving)."""
    rows = df.to_dict("records")
    out = np.empty((len(rows), len(names)))
    for i, row in enumerate(rows):
        ctx = TurnContext(
            channel=row["channel"],
            device=row["device"],
            issue_category=row["issue_category"],
            sentiment=float(row["sentiment"]),
            event_time=row["event_timestamp"].to_pydatetime(),
            timezone=row["timezone"],
            turn_index=int(row["turn_index"]),
        )
        inputs = encode_inputs(_raw(row), ctx)
        out[i] = [inputs[n] for n in names]
    return out


def ticket_frame(data_dir: Path) -> pd.DataFrame:
    """Tickets joined with their point-in-time features and the true p_escalate."""
    tickets = pd.read_parquet(data_dir / "tickets.parquet")
    truth = pd.read_parquet(data_dir / "truth" / "tickets.parquet")
    return join_features(tickets.merge(truth, on="ticket_id"), data_dir)
