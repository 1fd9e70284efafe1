"""A fixed set of a few thousand turns and the engine's answers to them, as plain data.

The golden test (tests/server/engine/test_golden.py) decides these turns with the
tests' model version and compares every answer with the committed file, so a change
meant to make the decision path faster cannot change a decision unnoticed. The turns
vary every context field, the customers' features (known, unknown, without consent,
views missing) and the batch shape; exploration draws are fixed by each turn (request
id and customer), so they are part of the answer.

Regenerate (only when a change is MEANT to change answers) with
``UPDATE_GOLDEN=1 python -m pytest tests/server/engine/test_golden.py``.
"""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from modelio.context import TurnContext
from modelio.vocab import CHANNELS, DEVICES, ISSUE_CATEGORIES
from server.engine.types import Decision, DecisionRequest
from server.features.base import CustomerFeatures
from tests.support.engines import ENGAGEMENT, NOW, NOW_TS, OTHER_PROFILE, PROFILE, SUPPORT

GOLDEN = Path(__file__).resolve().parents[1] / "server" / "engine" / "golden" / "decisions.json.gz"
ZONES = ("UTC", "Europe/Paris", "America/Mexico_City", "Asia/Tokyo", "Australia/Sydney")
LOCALES = ("en-US", "fr-FR", "es-MX", "de-DE", "ja-JP", "")
CUSTOMERS = 300


def customers(seed: int = 11) -> dict[str, CustomerFeatures]:
    """The online rows: most customers known with varied values, some without consent
    or with a view missing; ids from ``C0300`` on are unknown."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(CUSTOMERS):
        cid = f"C{i:04d}"
        profile = dict(PROFILE if i % 3 else OTHER_PROFILE)
        profile["monthly_spend"] = float(round(rng.uniform(0, 200), 2))
        profile["tenure_months"] = int(rng.integers(0, 120))
        if i % 11 == 0:
            profile["personalization_consent"] = False
        support = dict(SUPPORT, tickets_30d=int(rng.integers(0, 6)))
        support["avg_sentiment_90d"] = float(round(rng.uniform(-1, 1), 3))
        engagement = dict(ENGAGEMENT, sessions_28d=float(rng.integers(0, 40)))
        values: dict[str, Any] = {**profile, **engagement}
        views = {"customer_profile_fv": NOW_TS - 86400, "engagement_fv": NOW_TS - 7200}
        if i % 7:  # every 7th customer has no support history row
            values.update(support)
            views["support_history_fv"] = NOW_TS - 3600
        out[cid] = CustomerFeatures(cid, values, views)
    return out


def turns(n: int = 3000, seed: int = 5) -> list[DecisionRequest]:
    """``n`` turns over known and unknown customers and every context field."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        cid = f"C{int(rng.integers(0, CUSTOMERS + 40)):04d}"
        context = TurnContext(
            channel=CHANNELS[int(rng.integers(len(CHANNELS)))],
            device=DEVICES[int(rng.integers(len(DEVICES)))],
            issue_category=ISSUE_CATEGORIES[int(rng.integers(len(ISSUE_CATEGORIES)))],
            sentiment=float(round(rng.uniform(-1, 1), 3)),
            event_time=NOW - timedelta(minutes=int(rng.integers(0, 60 * 24 * 7))),
            timezone=ZONES[int(rng.integers(len(ZONES)))],
            locale=LOCALES[int(rng.integers(len(LOCALES)))],
            turn_index=int(rng.integers(1, 12)),
        )
        out.append(DecisionRequest(cid, context, f"g-{i:05d}"))
    return out


def answer(d: Decision) -> dict[str, Any]:
    """Everything a caller sees of a decision except its random id."""
    nba = d.next_best_action
    return {
        "request_id": d.request_id,
        "segment": [d.segment.id, d.segment.name],
        "risk": [d.escalation_risk.probability, d.escalation_risk.band],
        "action": nba.action,
        "success": nba.predicted_success,
        "propensity": nba.propensity,
        "reasons": list(nba.reason_codes),
        "alternatives": [[a.action, a.predicted_success] for a in nba.alternatives],
        "style": [d.style.formality, d.style.language],
        "personalized": d.personalized,
        "degraded": list(d.degraded_reasons),
        "not_personalized": d.not_personalized_reason,
        "feature_age_s": d.feature_age_seconds,
        "version": d.model_version,
    }


def write(answers: list[dict[str, Any]]) -> None:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(GOLDEN, "wt", encoding="utf-8") as out:
        json.dump(answers, out, separators=(",", ":"))


def read() -> list[dict[str, Any]]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as src:
        answers: list[dict[str, Any]] = json.load(src)
    return answers
