"""Materialization serves exactly the latest source values, and never stale ones."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from bench.prepare import copy_repo
from modelio.conversation import (
    CONVERSATION_FEATURES,
    CONVERSATION_KEY,
    CONVERSATION_VIEW,
    IDLE_TTL_S,
)
from modelio.inputs import check_against_views
from modelio.store import open_store
from modelio.vocab import FEATURE_SERVICE, FEATURE_VIEWS
from tests.support.feature_data import latest, write_sources
from tests.support.redis_server import RedisServer
from training.feast_ops import apply_repo, materialize

TTL_DAYS = {"customer_profile_fv": 400, "support_history_fv": 180, "engagement_fv": 14}
SOURCE = {
    "customer_profile_fv": "customer_profile",
    "support_history_fv": "support_history",
    "engagement_fv": "engagement",
}


def _same(expected: object, served: object) -> bool:
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return served is None
    if isinstance(expected, float):
        return isinstance(served, int | float) and math.isclose(expected, served, rel_tol=1e-12)
    return bool(expected == served)


def _check_online(
    repo: Path, frames: dict[str, pd.DataFrame], kind: str, redis: str | None = None
) -> None:
    store = open_store(repo, kind, redis)
    ids = [*sorted(frames["customer_profile"]["customer_id"].unique())[::3], "C9999999"]
    served = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"customer_id": cid} for cid in ids],
    ).to_dict()
    checked = stale = 0
    for view, names in FEATURE_VIEWS.items():
        frame = frames[SOURCE[view]]
        want = latest(frame, TTL_DAYS[view])
        for row, cid in enumerate(ids):
            for name in names:
                expected: Any = want.at[cid, name] if cid in want.index else None
                if hasattr(expected, "item"):
                    expected = expected.item()
                assert _same(expected, served[name][row]), (view, cid, name, expected)
                checked += 1
            stale += cid in set(frame["customer_id"]) and cid not in want.index
    assert checked > 1000
    assert stale > 0, "the fixture must hold customers whose only values exceed the TTL"


def test_sqlite_serves_latest_values(sqlite_repo: tuple[Path, dict[str, pd.DataFrame]]) -> None:
    _check_online(*sqlite_repo, "sqlite")


@pytest.mark.redis
def test_redis_serves_latest_values(
    redis_repo: tuple[Path, dict[str, pd.DataFrame]], redis_server: RedisServer
) -> None:
    _check_online(*redis_repo, "redis", redis_server.address)


def test_registry_matches_shared_vocabulary(sqlite_repo) -> None:
    store = open_store(sqlite_repo[0])
    views = {fv.name: tuple(f.name for f in fv.features) for fv in store.list_feature_views()}
    assert views == {**FEATURE_VIEWS, CONVERSATION_VIEW: CONVERSATION_FEATURES}
    service = store.get_feature_service(FEATURE_SERVICE)
    assert {p.name for p in service.feature_view_projections} == set(FEATURE_VIEWS)


def test_conversation_view_matches_the_shared_fold(sqlite_repo) -> None:
    """conversation_state_fv: keyed by conversation_id, idle TTL, its own service, a
    push source over the parquet the simulator writes (modelio.conversation)."""
    store = open_store(sqlite_repo[0])
    view = store.get_feature_view(CONVERSATION_VIEW)
    assert view.join_keys == [CONVERSATION_KEY]
    assert view.ttl is not None and view.ttl.total_seconds() == IDLE_TTL_S
    dtypes = {f.name: str(f.dtype) for f in view.features}
    assert dtypes == {
        "started_s": "Float64",
        "turns": "Int64",
        "first_sentiment": "Float64",
        "min_sentiment": "Float64",
        "last_sentiment": "Float64",
        "categories_mask": "Int64",
        "actions": "String",
        "outcomes": "String",
        "decision_ids": "String",
    }
    stream, batch = view.stream_source, view.batch_source
    assert stream is not None and stream.name == "conversation_state_push_source"
    assert getattr(batch, "path", None) == "data/conversation_state.parquet"
    service = store.get_feature_service("conversation_state_v1")
    assert [p.name for p in service.feature_view_projections] == [CONVERSATION_VIEW]


def test_missing_conversation_source_does_not_break_materialize(tmp_path: Path) -> None:
    """apply writes an empty source (schema only) when the simulator wrote none, so
    materializing every view works and the view serves nothing until the server writes."""
    repo = copy_repo(tmp_path / "repo")
    write_sources(repo / "data", n_customers=5)
    assert not (repo / "data" / "conversation_state.parquet").exists()
    apply_repo(repo)
    empty = pq.read_table(repo / "data" / "conversation_state.parquet")
    assert empty.num_rows == 0
    assert set(CONVERSATION_FEATURES) <= set(empty.column_names)
    materialize(repo, "sqlite")
    store = open_store(repo)
    served = store.get_online_features(
        features=store.get_feature_service("conversation_state_v1"),
        entity_rows=[{CONVERSATION_KEY: "conv-1"}],
    ).to_dict()
    assert all(served[name] == [None] for name in CONVERSATION_FEATURES)


def test_unknown_customer_is_all_missing(sqlite_repo) -> None:
    store = open_store(sqlite_repo[0])
    served = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"customer_id": "nobody"}],
    ).to_dict()
    assert all(served[n] == [None] for names in FEATURE_VIEWS.values() for n in names)
    assert isinstance(pd.Timestamp.now(), pd.Timestamp)


def test_model_input_table_reads_only_registered_features(sqlite_repo) -> None:
    """modelio.inputs declares each input's raw feature; the Feast views must serve it."""
    store = open_store(sqlite_repo[0])
    views = {fv.name: tuple(f.name for f in fv.features) for fv in store.list_feature_views()}
    assert check_against_views(views) == []
    broken = {
        **views,
        "engagement_fv": tuple(f for f in views["engagement_fv"] if f != "minutes_28d"),
    }
    assert check_against_views(broken) == [
        "log_minutes_28d: raw feature 'minutes_28d' is not in engagement_fv"
    ]
