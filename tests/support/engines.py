"""Helpers for engine tests: a scripted feature reader, turns and decision comparison."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelio.context import TurnContext
from server.engine.decide import DecisionEngine
from server.engine.types import Decision, DecisionRequest
from server.features.base import CustomerFeatures, FeatureReader, FeatureReadError
from server.models.runner import ModelRunner

NOW = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
NOW_TS = NOW.timestamp()

PROFILE = {
    "plan_tier": "premium",
    "monthly_spend": 79.0,
    "tenure_months": 40,
    "lifetime_value": 3100.0,
    "num_products": 3,
    "personalization_consent": True,
    "preferred_formality": "formal",
    "preferred_language": "fr",
}
OTHER_PROFILE = {
    "plan_tier": "free",
    "monthly_spend": 0.0,
    "tenure_months": 2,
    "lifetime_value": 10.0,
    "num_products": 1,
    "preferred_formality": "casual",
    "preferred_language": "de",
}
SUPPORT = {
    "tickets_30d": 2,
    "tickets_90d": 5,
    "escalations_90d": 1,
    "billing_tickets_90d": 2,
    "technical_tickets_90d": 1,
    "avg_resolution_hours_90d": 12.5,
    "avg_sentiment_90d": -0.3,
    "last_csat": 2.0,
    "last_ticket_ts": int(NOW_TS) - 5 * 86400,
}
ENGAGEMENT = {
    "sessions_28d": 14.0,
    "page_views_28d": 80.0,
    "minutes_28d": 120.0,
    "product_usage_28d": 0.7,
    "active_days_28d": 11,
}
VIEW_AGES = {"customer_profile_fv": 86400.0, "support_history_fv": 3600.0, "engagement_fv": 7200.0}


def features(
    cid: str, values: dict[str, Any], views: Sequence[str] = tuple(VIEW_AGES)
) -> CustomerFeatures:
    return CustomerFeatures(cid, dict(values), {v: NOW_TS - VIEW_AGES[v] for v in views})


class ScriptedReader(FeatureReader):
    """Serves fixed rows; unknown ids are not found; ``error`` makes every read fail."""

    def __init__(self, rows: dict[str, CustomerFeatures], error: str = "") -> None:
        self.rows = rows
        self.error = error
        self.calls: list[list[str]] = []
        self.closed = False

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        self.calls.append(list(customer_ids))
        if self.error:
            raise FeatureReadError(self.error, "scripted failure")
        return [self.rows.get(cid) or CustomerFeatures(cid) for cid in customer_ids]

    def close(self) -> None:
        self.closed = True


def turn(customer_id: str = "C1", request_id: str = "r-1", **overrides: Any) -> DecisionRequest:
    context: dict[str, Any] = {
        "channel": "web_chat",
        "device": "mobile",
        "issue_category": "billing",
        "sentiment": 0.1,
        "event_time": NOW,
        "timezone": "Europe/Paris",
        "locale": "es-MX",
        "turn_index": 2,
    }
    context.update(overrides)
    return DecisionRequest(customer_id, TurnContext(**context), request_id)


def without_id(decision: Decision) -> Decision:
    return dataclasses.replace(decision, decision_id="")


def scripted_engine(models: Path, reader: Any = None) -> DecisionEngine:
    return DecisionEngine(ModelRunner.load(models), reader or ScriptedReader({}))
