"""modelio.context's table-driven encoder equals the plain reference it replaced.

The reference below is the first, straightforward version of ``customer_inputs`` and
``context_inputs`` (one helper per feature group, one-hots built per call). The
faster encoder must give the same keys, in the same order, with bit-identical values,
for any raw features (present, missing, NaN, odd types) and any turn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from modelio.context import (
    BASE_DEFAULTS,
    ENGAGEMENT_INPUTS,
    HISTORY_INPUTS,
    PROFILE_INPUTS,
    TurnContext,
    context_inputs,
    customer_inputs,
    has_consent,
    zone,
)
from modelio.vocab import CHANNELS, DEVICES, ISSUE_CATEGORIES, PLAN_TIERS

_TIER_RANK = {tier: float(i) for i, tier in enumerate(PLAN_TIERS)}


def _num(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) else out


def _log1p(value: float | None) -> float | None:
    return None if value is None else math.log1p(max(value, 0.0))


def reference_customer_inputs(
    raw: Mapping[str, Any], event_time: datetime, defaults: Mapping[str, float]
) -> dict[str, float]:
    tier = raw.get("plan_tier")
    profile = {
        "plan_tier_rank": _TIER_RANK.get(tier) if isinstance(tier, str) else None,
        "monthly_spend": _num(raw, "monthly_spend"),
        "tenure_months": _num(raw, "tenure_months"),
        "log_lifetime_value": _log1p(_num(raw, "lifetime_value")),
        "num_products": _num(raw, "num_products"),
    }
    engagement = {
        "log_sessions_28d": _log1p(_num(raw, "sessions_28d")),
        "log_page_views_28d": _log1p(_num(raw, "page_views_28d")),
        "log_minutes_28d": _log1p(_num(raw, "minutes_28d")),
        "product_usage_28d": _num(raw, "product_usage_28d"),
        "active_days_28d": _num(raw, "active_days_28d"),
    }
    history = {name: _num(raw, name) for name in HISTORY_INPUTS[:-1]}
    last_ts = _num(raw, "last_ticket_ts")
    days = None
    if last_ts is not None:
        days = min(max((event_time.timestamp() - last_ts) / 86400.0, 0.0), 365.0)
    history["days_since_last_ticket"] = days
    consent = has_consent(raw)
    parts = (
        ("has_profile", profile if consent else dict.fromkeys(PROFILE_INPUTS)),
        ("has_engagement", engagement if consent else dict.fromkeys(ENGAGEMENT_INPUTS)),
        ("has_history", history),
    )
    out: dict[str, float] = {}
    for flag, values in parts:
        out[flag] = 1.0 if any(v is not None for v in values.values()) else 0.0
        for name, value in values.items():
            out[name] = defaults[name] if value is None else value
    return out


def reference_context_inputs(ctx: TurnContext) -> dict[str, float]:
    local = ctx.event_time.astimezone(zone(ctx.timezone))
    hour = local.hour + local.minute / 60.0
    weekday = local.weekday()
    angle = 2.0 * math.pi * hour / 24.0
    out = {
        "sentiment": float(ctx.sentiment),
        "turn_index": float(min(ctx.turn_index, 50)),
        "local_hour": hour,
        "hour_sin": math.sin(angle),
        "hour_cos": math.cos(angle),
        "weekday": float(weekday),
        "is_weekend": 1.0 if weekday >= 5 else 0.0,
        "is_business_hours": 1.0 if weekday < 5 and 9 <= local.hour < 18 else 0.0,
    }
    for prefix, vocab, value in (
        ("channel", CHANNELS, ctx.channel),
        ("device", DEVICES, ctx.device),
        ("category", ISSUE_CATEGORIES, ctx.issue_category),
    ):
        for item in vocab:
            out[f"{prefix}_{item}"] = 1.0 if item == value else 0.0
    return out


NUMERIC = (
    "monthly_spend", "tenure_months", "lifetime_value", "num_products", "sessions_28d",
    "page_views_28d", "minutes_28d", "product_usage_28d", "active_days_28d",
    *HISTORY_INPUTS[:-1], "last_ticket_ts",
)  # fmt: skip
numbers = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=False, width=64),
    st.booleans(),
)
raws = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(NUMERIC, numbers),
        "plan_tier": st.one_of(st.sampled_from(PLAN_TIERS), st.text(max_size=5), st.integers()),
        "personalization_consent": st.one_of(st.booleans(), st.integers(0, 2)),
    },
)
turns = st.builds(
    TurnContext,
    channel=st.one_of(st.sampled_from(CHANNELS), st.text(max_size=4)),
    device=st.one_of(st.sampled_from(DEVICES), st.text(max_size=4)),
    issue_category=st.one_of(st.sampled_from(ISSUE_CATEGORIES), st.text(max_size=4)),
    sentiment=st.floats(-1.0, 1.0),
    event_time=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    timezone=st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata"]),
    turn_index=st.integers(0, 200),
)
defaults = st.fixed_dictionaries({k: st.floats(-5.0, 5.0) for k in BASE_DEFAULTS})


def _same(a: dict[str, float], b: dict[str, float]) -> None:
    assert list(a) == list(b)  # same keys in the same order
    for key in a:
        assert math.copysign(1.0, a[key]) == math.copysign(1.0, b[key]), key
        assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), key


@settings(max_examples=400, deadline=None)
@given(raw=raws, ctx=turns, defaults=defaults)
def test_customer_inputs_match_the_reference(
    raw: dict[str, Any], ctx: TurnContext, defaults: dict[str, float]
) -> None:
    _same(
        customer_inputs(raw, ctx.event_time, defaults),
        reference_customer_inputs(raw, ctx.event_time, defaults),
    )


@settings(max_examples=300, deadline=None)
@given(ctx=turns)
def test_context_inputs_match_the_reference(ctx: TurnContext) -> None:
    _same(context_inputs(ctx), reference_context_inputs(ctx))


def test_the_reference_comparison_can_fail() -> None:
    raw = {"personalization_consent": True, "monthly_spend": 10.0}
    when = datetime(2024, 5, 6, tzinfo=UTC)
    changed = reference_customer_inputs(raw, when, BASE_DEFAULTS) | {"monthly_spend": 11.0}
    try:
        _same(customer_inputs(raw, when, BASE_DEFAULTS), changed)
    except AssertionError:
        return
    raise AssertionError("a different value went unnoticed")
