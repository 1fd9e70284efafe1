"""Turn raw customer features and a conversation turn into model inputs.

This is the only place where inputs are computed: the training-set builder and the
server both call :func:`encode_inputs`, row by row, so there is no second copy that
could drift (training/serving skew). It is plain Python on purpose: one request is a
single row and a dict of ~50 floats is cheaper than any dataframe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from modelio.conversation import CONVERSATION_INPUTS
from modelio.inputs import (
    BASE_DEFAULTS,
    GROUP_FLAGS,
    Transform,
    as_float,
    group_inputs,
    group_table,
)
from modelio.vocab import ACTIONS, CHANNELS, DEVICES, ISSUE_CATEGORIES


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


PROFILE_INPUTS: tuple[str, ...] = group_inputs("profile")
ENGAGEMENT_INPUTS: tuple[str, ...] = group_inputs("engagement")
#: Support-history inputs: the view's features, with the last ticket's time turned into
#: an age (relative to the turn) because an absolute timestamp does not generalize.
HISTORY_INPUTS: tuple[str, ...] = group_inputs("history")
FLAG_INPUTS: tuple[str, ...] = tuple(GROUP_FLAGS[g] for g in ("profile", "history", "engagement"))
#: The turn's local-time inputs (a window shorter than a week cannot hold their mix).
CALENDAR_INPUTS: tuple[str, ...] = (
    "local_hour",
    "hour_sin",
    "hour_cos",
    "weekday",
    "is_weekend",
    "is_business_hours",
)
CONTEXT_INPUTS: tuple[str, ...] = (
    "sentiment",
    "turn_index",
    *CALENDAR_INPUTS,
    *(f"channel_{c}" for c in CHANNELS),
    *(f"device_{d}" for d in DEVICES),
    *(f"category_{c}" for c in ISSUE_CATEGORIES),
)
ACTION_INPUTS: tuple[str, ...] = tuple(f"action_{a}" for a in ACTIONS)

SEGMENT_INPUTS: tuple[str, ...] = PROFILE_INPUTS + ENGAGEMENT_INPUTS
CUSTOMER_INPUTS: tuple[str, ...] = PROFILE_INPUTS + ENGAGEMENT_INPUTS + HISTORY_INPUTS + FLAG_INPUTS
ESCALATION_INPUTS: tuple[str, ...] = CUSTOMER_INPUTS + CONTEXT_INPUTS
NBA_INPUTS: tuple[str, ...] = ESCALATION_INPUTS + ACTION_INPUTS
#: The same with the conversation state's inputs (modelio.conversation) after the turn's:
#: the layout of a version trained with conversation features (its manifest lists it).
ESCALATION_CONVERSATION_INPUTS: tuple[str, ...] = ESCALATION_INPUTS + CONVERSATION_INPUTS
NBA_CONVERSATION_INPUTS: tuple[str, ...] = ESCALATION_CONVERSATION_INPUTS + ACTION_INPUTS

_NOTHING: Mapping[str, Any] = {}
_MAX_DAYS_SINCE = 365.0


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """Return the IANA zone ``name``; raise :class:`UnknownTimeZoneError` if unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # "Europe" is a tzdata folder
        raise UnknownTimeZoneError(name) from exc


_PROFILE_SPEC = group_table("profile")
_ENGAGEMENT_SPEC = group_table("engagement")
_HISTORY_SPEC = group_table("history")


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
    last = None if last_ts is None else as_float(last_ts)
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
