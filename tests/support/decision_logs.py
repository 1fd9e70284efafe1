"""Small hand-built decision and outcome logs, written with modelio.logrecords."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from modelio.context import ESCALATION_INPUTS
from modelio.logrecords import DECISIONS, table
from modelio.vocab import ACTIONS

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FULL_FEATURES = {"personalization_consent": True, "plan_tier": "premium", "tenure_days": 400}


def decision(
    decision_id: str,
    ts: datetime = T0,
    customer_id: str = "C1",
    action_index: int = 0,
    propensity: float = 1.0 / len(ACTIONS),
    inputs: Sequence[float] | None = None,
    model_version: str = "v-test",
    sentiment: float = 0.1,
    features: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A decision row of DECISION_SCHEMA (uniform logging policy by default)."""
    width = len(ESCALATION_INPUTS)
    return {
        "decision_id": decision_id,
        "ts": ts,
        "customer_id": customer_id,
        "request_id": f"r-{decision_id}",
        "conversation_id": f"c-{decision_id}",
        "model_version": model_version,
        "arm": "",
        "channel": "chat",
        "device": "desktop",
        "issue_category": "billing",
        "sentiment": sentiment,
        "event_time": ts,
        "time_zone": "UTC",
        "locale": "en-US",
        "turn_index": 1,
        "features": json.dumps(FULL_FEATURES if features is None else features),
        "inputs": list(inputs) if inputs is not None else [0.0] * width,
        "probabilities": [1.0 / len(ACTIONS)] * len(ACTIONS),
        "action": ACTIONS[action_index],
        "action_index": action_index,
        "propensity": propensity,
        "scores": [0.5] * len(ACTIONS),
        "escalation_probability": 0.1,
        "segment_id": 0,
        "personalized": True,
        "degraded": False,
        "degraded_reasons": [],
    }


def outcome(
    decision_id: str,
    event_time: datetime,
    resolved: bool = True,
    escalated: bool = False,
    csat: int | None = None,
    received_at: datetime | None = None,
    conversation_id: str | None = None,
) -> dict[str, Any]:
    """An outcome row of OUTCOME_SCHEMA (``conversation_id`` None: a row of a log written
    before the column existed)."""
    return {
        "decision_id": decision_id,
        "received_at": received_at or event_time + timedelta(seconds=1),
        "event_time": event_time,
        "resolved": resolved,
        "escalated": escalated,
        "csat": csat,
        "principal": "",
        "conversation_id": conversation_id,
    }


def write_part(log_dir: Path, kind: str, rows: Sequence[dict[str, Any]], name: str) -> Path:
    """One parquet part under ``<log_dir>/<kind>/date=YYYY-MM-DD/`` (date of the first row)."""
    stamp = rows[0]["ts" if kind == DECISIONS else "received_at"]
    folder = log_dir / kind / f"date={stamp:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    pq.write_table(table(kind, rows), path)
    return path
