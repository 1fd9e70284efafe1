"""Small, exactly known source data for a copy of feature_repo/ (bench.prepare.copy_repo)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from modelio.vocab import FORMALITIES, LANGUAGES, PLAN_TIERS

NOW = datetime.now(UTC).replace(microsecond=0)


def _stamps(rng: np.random.Generator, n: int, max_days: float) -> list[datetime]:
    days = np.sort(rng.uniform(0.5, max_days, size=n))[::-1]
    return [NOW - timedelta(days=float(d)) for d in days]


def _rows(customers: list[str], rng: np.random.Generator, max_days: float, make) -> pd.DataFrame:
    rows = []
    for cid in customers:
        for ts in _stamps(rng, int(rng.integers(1, 4)), max_days):
            rows.append(
                {"customer_id": cid, "event_timestamp": ts, "created_timestamp": ts, **make(rng)}
            )
    frame = pd.DataFrame(rows)
    for col in ("event_timestamp", "created_timestamp"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def _profile(rng: np.random.Generator) -> dict:
    return {
        "plan_tier": str(rng.choice(PLAN_TIERS)),
        "monthly_spend": float(np.round(rng.gamma(2.0, 20.0), 2)),
        "tenure_months": int(rng.integers(0, 120)),
        "lifetime_value": float(np.round(rng.gamma(2.0, 500.0), 2)),
        "num_products": int(rng.integers(1, 6)),
        "personalization_consent": bool(rng.random() < 0.8),
        "preferred_formality": str(rng.choice(FORMALITIES)),
        "preferred_language": str(rng.choice(LANGUAGES)),
    }


def _support(rng: np.random.Generator) -> dict:
    return {
        "tickets_30d": int(rng.integers(0, 4)),
        "tickets_90d": int(rng.integers(0, 9)),
        "escalations_90d": int(rng.integers(0, 3)),
        "billing_tickets_90d": int(rng.integers(0, 3)),
        "technical_tickets_90d": int(rng.integers(0, 3)),
        "avg_resolution_hours_90d": float(rng.uniform(0.5, 72)),
        "avg_sentiment_90d": float(rng.uniform(-1, 1)),
        "last_csat": float(rng.integers(1, 6)) if rng.random() < 0.7 else float("nan"),
        "last_ticket_ts": int((NOW - timedelta(days=float(rng.uniform(0, 90)))).timestamp()),
    }


def _engagement(rng: np.random.Generator) -> dict:
    return {
        "sessions_28d": float(rng.integers(0, 40)),
        "page_views_28d": float(rng.integers(0, 300)),
        "minutes_28d": float(np.round(rng.uniform(0, 600), 1)),
        "product_usage_28d": float(np.round(rng.uniform(0, 1), 3)),
        "active_days_28d": int(rng.integers(0, 28)),
    }


def write_sources(data_dir: Path, n_customers: int = 300, seed: int = 3) -> dict[str, pd.DataFrame]:
    """Write the three FV sources; engagement spans 40 days so some values exceed its 14-day TTL."""
    rng = np.random.default_rng(seed)
    customers = [f"C{i:07d}" for i in range(1, n_customers + 1)]
    frames = {
        "customer_profile": _rows(customers, rng, 300, _profile),
        "support_history": _rows(customers[: int(n_customers * 0.8)], rng, 150, _support),
        "engagement": _rows(customers, rng, 40, _engagement),
    }
    for name, frame in frames.items():
        frame.to_parquet(data_dir / f"{name}.parquet", index=False)
    return frames


def latest(frame: pd.DataFrame, ttl_days: float) -> pd.DataFrame:
    """The newest row per customer, with rows older than the TTL removed (what must be served)."""
    newest = frame.sort_values("event_timestamp").groupby("customer_id").tail(1)
    fresh = newest["event_timestamp"] >= pd.Timestamp(NOW - timedelta(days=ttl_days))
    return newest[fresh].set_index("customer_id")
