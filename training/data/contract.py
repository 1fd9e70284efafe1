"""The source-table contract: column names, kinds, ranges, enums and keys.

The simulator writes tables with :meth:`TableSpec.arrow_schema`; training/data/validate.py
checks any data directory against the same specs, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelio.vocab import (
    ACTIONS,
    CHANNELS,
    DEVICES,
    FORMALITIES,
    ISSUE_CATEGORIES,
    LANGUAGES,
    PLAN_TIERS,
)

_ARROW = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("ns", tz="UTC"),
}


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` in string/int/float/bool/timestamp; NaN counts as null."""

    name: str
    kind: str
    nullable: bool = False
    enum: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is not allowed


@dataclass(frozen=True)
class TableSpec:
    """One parquet file ``<name>.parquet``; ``required`` tables are feature-view sources."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool

    def arrow_schema(self) -> pa.Schema:
        """The exact arrow schema the simulator writes."""
        return pa.schema(
            [pa.field(c.name, _ARROW[c.kind], nullable=c.nullable) for c in self.columns]
        )

    def column(self, name: str) -> Column:
        """Spec of column ``name``."""
        return next(c for c in self.columns if c.name == name)


def _ts(name: str) -> Column:
    return Column(name, "timestamp")


def _count(name: str, lo: float = 0, hi: float | None = None) -> Column:
    return Column(name, "int", lo=lo, hi=hi)


_ID = Column("customer_id", "string")
_FV_TIME = (_ID, _ts("event_timestamp"), _ts("created_timestamp"))

CUSTOMER_PROFILE = TableSpec(
    "customer_profile",
    (
        *_FV_TIME,
        Column("plan_tier", "string", enum=PLAN_TIERS),
        Column("monthly_spend", "float", lo=0),
        _count("tenure_months"),
        Column("lifetime_value", "float", lo=0),
        _count("num_products", lo=1),
        Column("personalization_consent", "bool"),
        Column("preferred_formality", "string", enum=FORMALITIES),
        Column("preferred_language", "string", enum=LANGUAGES),
    ),
    key=("customer_id", "event_timestamp"),
    required=True,
)

SUPPORT_HISTORY = TableSpec(
    "support_history",
    (
        *_FV_TIME,
        _count("tickets_30d"),
        _count("tickets_90d"),
        _count("escalations_90d"),
        _count("billing_tickets_90d"),
        _count("technical_tickets_90d"),
        Column("avg_resolution_hours_90d", "float", nullable=True, lo=0),
        Column("avg_sentiment_90d", "float", nullable=True, lo=-1, hi=1),
        Column("last_csat", "float", nullable=True, lo=1, hi=5),
        _count("last_ticket_ts"),
    ),
    key=("customer_id", "event_timestamp"),
    required=True,
)

ENGAGEMENT = TableSpec(
    "engagement",
    (
        *_FV_TIME,
        _count("sessions_28d"),
        _count("page_views_28d"),
        Column("minutes_28d", "float", lo=0),
        Column("product_usage_28d", "float", lo=0),
        _count("active_days_28d", hi=28),
    ),
    key=("customer_id", "event_timestamp"),
    required=True,
)

TICKETS = TableSpec(
    "tickets",
    (
        Column("ticket_id", "string"),
        _ID,
        _ts("event_timestamp"),
        _ts("closed_at"),
        Column("channel", "string", enum=CHANNELS),
        Column("device", "string", enum=DEVICES),
        Column("issue_category", "string", enum=ISSUE_CATEGORIES),
        Column("sentiment", "float", lo=-1, hi=1),
        Column("timezone", "string"),
        _count("turn_index", lo=1),
        _count("turn_count", lo=1),
        Column("resolution_hours", "float", lo=0, lo_open=True),
        Column("csat", "float", nullable=True, lo=1, hi=5),
        Column("escalated", "bool"),
    ),
    key=("ticket_id",),
    required=False,
)

ENGAGEMENT_DAILY = TableSpec(
    "engagement_daily",
    (
        _ID,
        _ts("event_timestamp"),
        _count("sessions"),
        _count("page_views"),
        Column("minutes", "float", lo=0),
        Column("product_usage", "float", lo=0),
    ),
    key=("customer_id", "event_timestamp"),
    required=False,
)

DECISIONS = TableSpec(
    "decisions",
    (
        Column("decision_id", "string"),
        Column("ticket_id", "string"),
        _ID,
        _ts("event_timestamp"),
        Column("action", "string", enum=ACTIONS),
        Column("propensity", "float", lo=0, hi=1, lo_open=True),
        Column("success", "bool"),
        Column("csat", "float", nullable=True, lo=1, hi=5),
        # The decided turn of the ticket's conversation (its sentiment, turn number and
        # whether the customer escalated at it: then the conversation ended there).
        Column("sentiment", "float", lo=-1, hi=1),
        _count("turn_index", lo=1),
        Column("escalated", "bool"),
    ),
    key=("decision_id",),
    required=False,
)

#: The offline store of ``conversation_state_fv`` (modelio.conversation): one row per
#: decided turn, the conversation's state after it; ``customer_id`` is not a feature
#: (``forget`` erases by it). Written by the simulator (training/sim/conversations.py) and,
#: from the server's logs, by ``training conversations`` (training/feedback/conversations.py).
CONVERSATION_STATE = TableSpec(
    "conversation_state",
    (
        Column("conversation_id", "string"),
        _ID,
        Column("started_s", "float", lo=0),
        _count("turns", lo=1),
        Column("first_sentiment", "float", lo=-1, hi=1),
        Column("min_sentiment", "float", lo=-1, hi=1),
        Column("last_sentiment", "float", lo=-1, hi=1),
        _count("categories_mask"),
        Column("actions", "string"),
        Column("outcomes", "string"),
        Column("decision_ids", "string"),
        _ts("event_timestamp"),
        _ts("created_timestamp"),
    ),
    key=("conversation_id", "event_timestamp"),
    required=False,
)

#: Every source table, FV sources first.
SOURCES: tuple[TableSpec, ...] = (
    CUSTOMER_PROFILE,
    SUPPORT_HISTORY,
    ENGAGEMENT,
    TICKETS,
    ENGAGEMENT_DAILY,
    DECISIONS,
    CONVERSATION_STATE,
)


#: Nanoseconds per second (timestamps are ``timestamp[ns, UTC]``).
NS = 1_000_000_000


def timestamp_ns(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Int64 nanoseconds since the epoch of a timestamp column (any unit)."""
    return (
        pc.cast(col, pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)
    )


def to_timestamp(ns: np.ndarray) -> pa.Array:
    """Arrow ``timestamp[ns, UTC]`` array from int64 nanoseconds."""
    return pa.array(np.asarray(ns, dtype=np.int64), type=pa.int64()).cast(
        pa.timestamp("ns", tz="UTC")
    )
