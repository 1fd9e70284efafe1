"""A small, real Feast repository for tests: the project's feature definitions, synthetic
parquet sources, ``feast apply`` and materialization into SQLite and/or Redis.

The data is deterministic and covers the cases the readers must get right: customers
missing from some views, values older than a view's TTL (engagement 14 days, support
180 days), several snapshots per customer (latest wins), null values, and ids that
exist nowhere.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from bench.prepare import copy_repo
from modelio.store import open_store, repo_config
from modelio.vocab import PLAN_TIERS


@dataclass(frozen=True)
class FeastFixture:
    """A built repository; ``now`` is the time the synthetic ages are relative to."""

    repo: Path
    now: datetime
    known_ids: tuple[str, ...]

    def store(self, kind: str = "sqlite", redis: str | None = None) -> Any:
        return open_store(self.repo, kind, redis)


def customer_id(i: int) -> str:
    return f"C{i:07d}"


def _stamp(frame: pd.DataFrame) -> pd.DataFrame:
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    frame["created_timestamp"] = frame["event_timestamp"]
    return frame


def _profile_rows(n: int, now: datetime) -> pd.DataFrame:
    rows = []
    for i in range(n):
        if i % 10 == 9:  # not in the CRM snapshot at all
            continue
        snapshots = [(30, i % 4)] + ([(300, (i + 1) % 4)] if i % 7 == 0 else [])
        for days, plan in snapshots:
            rows.append({
                "customer_id": customer_id(i),
                "event_timestamp": now - timedelta(days=days, minutes=i % 50),
                "plan_tier": PLAN_TIERS[plan],
                "monthly_spend": round(5.0 + (i % 37) * 1.75 + days / 100, 2),
                "tenure_months": (i % 60) + days // 30,
                "lifetime_value": float(100 + i * 3),
                "num_products": 1 + i % 4,
                "personalization_consent": i % 4 != 0,
                "preferred_formality": "formal" if i % 2 else "casual",
                "preferred_language": None if i % 11 == 0 else ("en", "es", "fr", "de")[i % 4],
            })  # fmt: skip
    return _stamp(pd.DataFrame(rows))


def _support_rows(n: int, now: datetime) -> pd.DataFrame:
    rows = []
    for i in range(n):
        if i % 3 == 2:
            continue
        days = 200 if i % 29 == 0 else 1 + i % 90  # > 180-day TTL for every 29th
        event = now - timedelta(days=days, seconds=i)
        rows.append({
            "customer_id": customer_id(i),
            "event_timestamp": event,
            "tickets_30d": i % 3,
            "tickets_90d": i % 7,
            "escalations_90d": i % 2,
            "billing_tickets_90d": i % 4,
            "technical_tickets_90d": i % 5,
            "avg_resolution_hours_90d": 1.5 + (i % 40) / 3,
            "avg_sentiment_90d": ((i % 21) - 10) / 10.0,
            "last_csat": float("nan") if i % 13 == 0 else float(1 + i % 5),
            "last_ticket_ts": int(event.timestamp()) - 3600,
        })  # fmt: skip
    return _stamp(pd.DataFrame(rows))


def _engagement_rows(n: int, now: datetime) -> pd.DataFrame:
    rows = []
    for i in range(n):
        if i % 5 == 4:
            continue
        days = 20 + i % 20 if i % 3 == 0 else 1 + i % 12  # every 3rd: older than 14 days
        rows.append({
            "customer_id": customer_id(i),
            "event_timestamp": now - timedelta(days=days, seconds=2 * i),
            "sessions_28d": float(i % 30),
            "page_views_28d": float(i % 30) * 4.5,
            "minutes_28d": float(i % 30) * 7.25,
            "product_usage_28d": (i % 100) / 100.0,
            "active_days_28d": i % 28,
        })  # fmt: skip
    return _stamp(pd.DataFrame(rows))


def write_sources(data_dir: Path, n: int, now: datetime) -> None:
    """The three parquet sources the repo's FileSources read."""
    data_dir.mkdir(parents=True, exist_ok=True)
    _profile_rows(n, now).to_parquet(data_dir / "customer_profile.parquet", index=False)
    _support_rows(n, now).to_parquet(data_dir / "support_history.parquet", index=False)
    _engagement_rows(n, now).to_parquet(data_dir / "engagement.parquet", index=False)


def apply(repo: Path, kind: str = "sqlite", redis: str | None = None) -> None:
    """``feast apply`` in process, as the CLI does it (repo on sys.path, cwd = repo).

    Each online store has its own registry file (materialization progress is per
    store), so every store kind is applied separately.

    Feast imports the definitions as top-level modules (``feature_views``...); they are
    dropped again afterwards so a later apply of another copy imports its own files.
    """
    from feast.repo_operations import apply_total

    cwd, path, before = os.getcwd(), str(repo.resolve()), set(sys.modules)
    sys.path.append(path)
    try:
        apply_total(repo_config(repo, kind, redis), repo.resolve(), skip_source_validation=True)
    finally:
        os.chdir(cwd)
        sys.path.remove(path)
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if module_file.startswith(path):
                del sys.modules[name]


def materialize(fixture: FeastFixture, kind: str = "sqlite", redis: str | None = None) -> None:
    """Apply and load every view's latest row per customer (no TTL cut-off at load time)."""
    if kind != "sqlite":
        apply(fixture.repo, kind, redis)
    store = fixture.store(kind, redis)
    store.materialize(fixture.now - timedelta(days=1000), fixture.now + timedelta(minutes=1))


def build_feast_repo(repo: Path, n: int = 1200, now: datetime | None = None) -> FeastFixture:
    """Copy the definitions, write ``n`` customers' sources and apply (no materialize)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    copy_repo(repo)
    write_sources(repo / "data", n, now)
    apply(repo)
    return FeastFixture(repo, now, tuple(customer_id(i) for i in range(n)))


def thousand_ids(fx: FeastFixture) -> list[str]:
    """960 known customers and 40 ids the store has never seen, interleaved."""
    ids = list(fx.known_ids[:960])
    for i in range(40):
        ids.insert(i * 24, f"UNKNOWN-{i:03d}")
    return ids
