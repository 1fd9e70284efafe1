"""The customer's model inputs, each declared once: name, raw Feast feature, transform,
default and group.

Everything else is derived from :data:`CUSTOMER_INPUT_SPECS`: the input tuples of each
group (``modelio.context``), the defaults for missing features, and the encoder's
per-group tables. Adding an input that reads an existing raw feature is one line here;
a new raw feature also needs its column in the feature view (``feature_repo/``), in
``modelio.vocab.FEATURE_VIEWS`` and in the source contract, and tests check that those
agree with this table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from modelio.vocab import FEATURE_VIEWS, PLAN_TIERS

Group = Literal["profile", "engagement", "history"]
Transform = Callable[[Any], "float | None"]

#: The flag input of each group: 1.0 when any raw value of the group was present.
GROUP_FLAGS: dict[Group, str] = {
    "profile": "has_profile",
    "engagement": "has_engagement",
    "history": "has_history",
}
#: The raw feature view each group reads.
GROUP_VIEWS: dict[Group, str] = {
    "profile": "customer_profile_fv",
    "engagement": "engagement_fv",
    "history": "support_history_fv",
}

_TIER_RANK = {tier: float(i) for i, tier in enumerate(PLAN_TIERS)}


def as_float(value: Any) -> float | None:
    """The value as a float; NaN counts as missing."""
    out = float(value)
    return None if out != out else out


def log1p(value: Any) -> float | None:
    """``log(1 + max(value, 0))``: counts and amounts with long tails."""
    out = as_float(value)
    return None if out is None else math.log1p(max(out, 0.0))


def tier_rank(value: Any) -> float | None:
    """Position of a plan tier in ``PLAN_TIERS`` (unknown tiers are missing)."""
    return _TIER_RANK.get(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ModelInput:
    """One customer input. ``transform`` None: computed from the turn, not the raw value
    alone (the age of the last ticket relative to the turn's time)."""

    name: str
    raw: str
    transform: Transform | None
    default: float
    group: Group


def _spec(
    name: str, raw: str, transform: Transform | None, default: float, group: Group
) -> ModelInput:
    return ModelInput(name, raw, transform, default, group)


#: Every customer input, in the models' column order within each group.
CUSTOMER_INPUT_SPECS: tuple[ModelInput, ...] = (
    _spec("plan_tier_rank", "plan_tier", tier_rank, 0.0, "profile"),
    _spec("monthly_spend", "monthly_spend", as_float, 0.0, "profile"),
    _spec("tenure_months", "tenure_months", as_float, 0.0, "profile"),
    _spec("log_lifetime_value", "lifetime_value", log1p, 0.0, "profile"),
    _spec("num_products", "num_products", as_float, 1.0, "profile"),
    _spec("log_sessions_28d", "sessions_28d", log1p, 0.0, "engagement"),
    _spec("log_page_views_28d", "page_views_28d", log1p, 0.0, "engagement"),
    _spec("log_minutes_28d", "minutes_28d", log1p, 0.0, "engagement"),
    _spec("product_usage_28d", "product_usage_28d", as_float, 0.0, "engagement"),
    _spec("active_days_28d", "active_days_28d", as_float, 0.0, "engagement"),
    _spec("tickets_30d", "tickets_30d", as_float, 0.0, "history"),
    _spec("tickets_90d", "tickets_90d", as_float, 0.0, "history"),
    _spec("escalations_90d", "escalations_90d", as_float, 0.0, "history"),
    _spec("billing_tickets_90d", "billing_tickets_90d", as_float, 0.0, "history"),
    _spec("technical_tickets_90d", "technical_tickets_90d", as_float, 0.0, "history"),
    _spec("avg_resolution_hours_90d", "avg_resolution_hours_90d", as_float, 0.0, "history"),
    _spec("avg_sentiment_90d", "avg_sentiment_90d", as_float, 0.0, "history"),
    _spec("last_csat", "last_csat", as_float, 3.0, "history"),
    # An absolute timestamp does not generalize; its age relative to the turn does.
    _spec("days_since_last_ticket", "last_ticket_ts", None, 365.0, "history"),
)


def group_inputs(group: Group) -> tuple[str, ...]:
    """Input names of ``group``, in column order."""
    return tuple(s.name for s in CUSTOMER_INPUT_SPECS if s.group == group)


def group_table(group: Group) -> tuple[tuple[str, str, Transform], ...]:
    """(input, raw feature, transform) of the group's inputs computed from one raw value."""
    return tuple(
        (s.name, s.raw, s.transform)
        for s in CUSTOMER_INPUT_SPECS
        if s.group == group and s.transform is not None
    )


#: Values used when a raw feature is missing (unknown customer, expired value, no
#: consent). Training replaces these with medians of the training set and records
#: them in the manifest; the server uses the manifest's copy.
BASE_DEFAULTS: dict[str, float] = {s.name: s.default for s in CUSTOMER_INPUT_SPECS}


def check_against_views(views: dict[str, tuple[str, ...]] = FEATURE_VIEWS) -> list[str]:
    """Problems between this table and the raw feature views (empty: they agree)."""
    problems = []
    for spec in CUSTOMER_INPUT_SPECS:
        view = GROUP_VIEWS[spec.group]
        if spec.raw not in views.get(view, ()):
            problems.append(f"{spec.name}: raw feature {spec.raw!r} is not in {view}")
    return problems
