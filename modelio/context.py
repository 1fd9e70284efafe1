"""Turn raw customer features and a conversation turn into model inputs.

This is the only place where inputs are computed: the training-set builder and the
server both call :func:`encode_inputs`, row by row, so there is no second copy that
could drift (training/serving skew). It is plain Python on purpose: one request is a
single row and a dict of ~50 floats is cheaper than any dataframe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from modelio.vocab import (
    ACTIONS,
    CHANNELS,
    DEVICES,
    ISSUE_CATEGORIES,
    PLAN_TIERS,
    SUPPORT_FEATURES,
)


class UnknownTimeZoneError(ValueError):
    """The turn names a time zone that the IANA database does not know."""


@dataclass(frozen=True, slots=True)
class TurnContext:
    """One conversation turn as the bot backend sees it (validated, plain Python)."""

    channel: str
    device: str
    issue_category: str
    sentiment: float
    event_time: datetime
    timezone: str = "UTC"
    locale: str = ""
    turn_index: int = 1


PROFILE_INPUTS: tuple[str, ...] = (
    "plan_tier_rank",
    "monthly_spend",
    "tenure_months",
    "log_lifetime_value",
    "num_products",
)
ENGAGEMENT_INPUTS: tuple[str, ...] = (
    "log_sessions_28d",
    "log_page_views_28d",
    "log_minutes_28d",
    "product_usage_28d",
    "active_days_28d",
)
#: Support-history inputs: the view's features, with the last ticket's time turned into
#: an age (relative to the turn) because an absolute timestamp does not generalize.
HISTORY_INPUTS: tuple[str, ...] = (
    *(f for f in SUPPORT_FEATURES if f != "last_ticket_ts"),
    "days_since_last_ticket",
)
FLAG_INPUTS: tuple[str, ...] = ("has_profile", "has_history", "has_engagement")
CONTEXT_INPUTS: tuple[str, ...] = (
    "sentiment",
    "turn_index",
    "local_hour",
    "hour_sin",
    "hour_cos",
    "weekday",
    "is_weekend",
    "is_business_hours",
    *(f"channel_{c}" for c in CHANNELS),
    *(f"device_{d}" for d in DEVICES),
    *(f"category_{c}" for c in ISSUE_CATEGORIES),
)
ACTION_INPUTS: tuple[str, ...] = tuple(f"action_{a}" for a in ACTIONS)

SEGMENT_INPUTS: tuple[str, ...] = PROFILE_INPUTS + ENGAGEMENT_INPUTS
CUSTOMER_INPUTS: tuple[str, ...] = PROFILE_INPUTS + ENGAGEMENT_INPUTS + HISTORY_INPUTS + FLAG_INPUTS
ESCALATION_INPUTS: tuple[str, ...] = CUSTOMER_INPUTS + CONTEXT_INPUTS
NBA_INPUTS: tuple[str, ...] = ESCALATION_INPUTS + ACTION_INPUTS

#: Values used when a raw feature is missing (unknown customer, expired value, no
#: consent). Training replaces these with medians of the training set and records
#: them in the manifest; the server uses the manifest's copy.
BASE_DEFAULTS: dict[str, float] = {
    "plan_tier_rank": 0.0,
    "monthly_spend": 0.0,
    "tenure_months": 0.0,
    "log_lifetime_value": 0.0,
    "num_products": 1.0,
    "log_sessions_28d": 0.0,
    "log_page_views_28d": 0.0,
    "log_minutes_28d": 0.0,
    "product_usage_28d": 0.0,
    "active_days_28d": 0.0,
    "tickets_30d": 0.0,
    "tickets_90d": 0.0,
    "escalations_90d": 0.0,
    "billing_tickets_90d": 0.0,
    "technical_tickets_90d": 0.0,
    "avg_resolution_hours_90d": 0.0,
    "avg_sentiment_90d": 0.0,
    "last_csat": 3.0,
    "days_since_last_ticket": 365.0,
}

_TIER_RANK = {tier: float(i) for i, tier in enumerate(PLAN_TIERS)}
_NOTHING: Mapping[str, Any] = {}
_MAX_DAYS_SINCE = 365.0


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name``; raise :class:`UnknownTimeZoneError` if unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Europe" is a tzdata folder
        raise UnknownTimeZoneError(name) from exc


def _float(value: Any) -> float | None:
    out = float(value)
    return None if out != out else out  # NaN is missing


def _log1p(value: Any) -> float | None:
    out = _float(value)
    return None if out is None else math.log1p(max(out, 0.0))


def _tier_rank(value: Any) -> float | None:
    return _TIER_RANK.get(value) if isinstance(value, str) else None


Transform = Callable[[Any], "float | None"]
#: (input name, raw feature, transform of a present raw value) per input of a group.
_PROFILE_SPEC: tuple[tuple[str, str, Transform], ...] = (
    ("plan_tier_rank", "plan_tier", _tier_rank),
    ("monthly_spend", "monthly_spend", _float),
    ("tenure_months", "tenure_months", _float),
    ("log_lifetime_value", "lifetime_value", _log1p),
    ("num_products", "num_products", _float),
)
_ENGAGEMENT_SPEC: tuple[tuple[str, str, Transform], ...] = (
    ("log_sessions_28d", "sessions_28d", _log1p),
    ("log_page_views_28d", "page_views_28d", _log1p),
    ("log_minutes_28d", "minutes_28d", _log1p),
    ("product_usage_28d", "product_usage_28d", _float),
    ("active_days_28d", "active_days_28d", _float),
)
_HISTORY_SPEC: tuple[tuple[str, str, Transform], ...] = tuple(
    (name, name, _float) for name in HISTORY_INPUTS[:-1]
)


def _group(
    out: dict[str, float],
    flag: str,
    raw: Mapping[str, Any],
    spec: tuple[tuple[str, str, Transform], ...],
    defaults: Mapping[str, float],
) -> float:
    """Write one group's inputs (its flag first, for a stable key order); return the flag:
    1.0 when any of its raw values is present, else 0.0 (and all inputs are defaults)."""
    out[flag] = present = 0.0
    for name, key, transform in spec:
        value = raw.get(key)
        if value is not None:
            value = transform(value)
        if value is None:
            out[name] = defaults[name]
        else:
            out[name] = value
            present = 1.0
    out[flag] = present
    return present


def _days_since(raw: Mapping[str, Any], event_time: datetime) -> float | None:
    last_ts = raw.get("last_ticket_ts")
    last = None if last_ts is None else _float(last_ts)
    if last is None:
        return None
    return min(max((event_time.timestamp() - last) / 86400.0, 0.0), _MAX_DAYS_SINCE)


#: Every one-hot input of the turn at 0.0; the turn's own three are then set to 1.0.
_CHANNEL_KEYS = {c: f"channel_{c}" for c in CHANNELS}
_DEVICE_KEYS = {d: f"device_{d}" for d in DEVICES}
_CATEGORY_KEYS = {c: f"category_{c}" for c in ISSUE_CATEGORIES}
_ONE_HOT_ZEROS: dict[str, float] = dict.fromkeys(
    (*_CHANNEL_KEYS.values(), *_DEVICE_KEYS.values(), *_CATEGORY_KEYS.values()), 0.0
)


def context_inputs(ctx: TurnContext) -> dict[str, float]:
    """Encode the turn: local time from ``event_time`` + ``timezone``, one-hot categories
    (a value outside the vocabulary sets none of its one-hots)."""
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
    out.update(_ONE_HOT_ZEROS)
    for keys, value in (
        (_CHANNEL_KEYS, ctx.channel),
        (_DEVICE_KEYS, ctx.device),
        (_CATEGORY_KEYS, ctx.issue_category),
    ):
        key = keys.get(value)
        if key is not None:
            out[key] = 1.0
    return out


def has_consent(raw: Mapping[str, Any]) -> bool:
    """Personalization needs an explicit opt-in; a missing value means no."""
    return raw.get("personalization_consent") is True or raw.get("personalization_consent") == 1


def customer_inputs(
    raw: Mapping[str, Any],
    event_time: datetime,
    defaults: Mapping[str, float] = BASE_DEFAULTS,
) -> dict[str, float]:
    """Encode the customer's raw online features as of ``event_time``.

    Without personalization consent the profile and engagement inputs are replaced by
    defaults (flags 0), exactly as for an unknown customer; support history is
    operational data and is kept.
    """
    consent = has_consent(raw)
    out: dict[str, float] = {}
    _group(out, "has_profile", raw if consent else _NOTHING, _PROFILE_SPEC, defaults)
    _group(out, "has_engagement", raw if consent else _NOTHING, _ENGAGEMENT_SPEC, defaults)
    present = _group(out, "has_history", raw, _HISTORY_SPEC, defaults)
    days = _days_since(raw, event_time)
    if days is None:
        out["days_since_last_ticket"] = defaults["days_since_last_ticket"]
    else:
        out["days_since_last_ticket"] = days
        present = 1.0
    out["has_history"] = present
    return out


def encode_inputs(
    raw: Mapping[str, Any],
    ctx: TurnContext,
    defaults: Mapping[str, float] = BASE_DEFAULTS,
) -> dict[str, float]:
    """All inputs of the escalation model (customer + turn), keyed by input name."""
    out = customer_inputs(raw, ctx.event_time, defaults)
    out.update(context_inputs(ctx))
    return out


def action_inputs(action: str) -> dict[str, float]:
    """One-hot of ``action`` for the reward model."""
    return {f"action_{a}": 1.0 if a == action else 0.0 for a in ACTIONS}


def vector(inputs: Mapping[str, float], names: tuple[str, ...] | list[str]) -> list[float]:
    """Order ``inputs`` as the model expects (names come from the manifest)."""
    return [inputs[name] for name in names]
