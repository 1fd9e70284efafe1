"""FeastFeatureReader against an independent oracle: the parquet sources themselves.

Also pins down what Feast 0.67 does with TTLs online: nothing. ``get_online_features``
returns a value older than its view's TTL as PRESENT, so the readers drop it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd
import pytest

from modelio.vocab import FEATURE_SERVICE, FEATURE_VIEWS
from server.errors import FeatureStoreError
from server.features.base import CustomerFeatures, describe_service
from server.features.feast_reader import FeastFeatureReader
from tests.support.feast import FeastFixture

SOURCES = {
    "customer_profile_fv": "customer_profile.parquet",
    "support_history_fv": "support_history.parquet",
    "engagement_fv": "engagement.parquet",
}


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def oracle(fx: FeastFixture, ids: list[str], now: float) -> list[CustomerFeatures]:
    """Latest source row per customer and view, dropped when older than the view's TTL."""
    store = fx.store()
    out = {cid: CustomerFeatures(cid) for cid in ids}
    for view, file in SOURCES.items():
        ttl = store.get_feature_view(view).ttl.total_seconds()
        frame = pd.read_parquet(fx.repo / "data" / file).sort_values("event_timestamp")
        latest = frame.groupby("customer_id").tail(1).set_index("customer_id")
        for cid in ids:
            if cid not in latest.index:
                continue
            row = latest.loc[cid]
            event_time = row["event_timestamp"].timestamp()
            if now - event_time > ttl:
                continue
            out[cid].event_times[view] = event_time
            for name in FEATURE_VIEWS[view]:
                value = _plain(row[name])
                if value is not None:
                    out[cid].values[name] = value
    return [out[cid] for cid in ids]


def sample_ids(fx: FeastFixture) -> list[str]:
    return [*fx.known_ids[:300], "C9999999", "", "nobody"]


def test_matches_the_sources(engine_feast_repo: FeastFixture) -> None:
    now = time.time()
    ids = sample_ids(engine_feast_repo)
    reader = FeastFeatureReader(engine_feast_repo.store(), FEATURE_SERVICE, clock=lambda: now)
    got = reader.read(ids)
    assert got == oracle(engine_feast_repo, ids, now)
    # the data really has every case the rule is about
    assert any(not r.found for r in got)
    assert any(r.found and "sessions_28d" not in r.values for r in got)  # expired engagement
    assert any(r.found and "tickets_30d" not in r.values for r in got)


def test_feast_itself_serves_expired_values(engine_feast_repo: FeastFixture) -> None:
    """Why the readers apply TTLs: Feast 0.67's online read does not."""
    store = engine_feast_repo.store()
    customer = engine_feast_repo.known_ids[0]  # engagement 20 days old, TTL 14 days
    response = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"customer_id": customer}],
        full_feature_names=True,
    ).to_dict(include_event_timestamps=True)
    age_days = (time.time() - response["engagement_fv__sessions_28d__ts"][0]) / 86400
    assert age_days > 14
    assert response["engagement_fv__sessions_28d"][0] is not None
    reader = FeastFeatureReader(store, FEATURE_SERVICE)
    assert "sessions_28d" not in reader.read([customer])[0].values


def test_ttl_boundary_is_inclusive(engine_feast_repo: FeastFixture) -> None:
    store = engine_feast_repo.store()
    customer = engine_feast_repo.known_ids[1]  # engagement 2 days old
    first = FeastFeatureReader(store, FEATURE_SERVICE).read([customer])[0]
    stamp = first.event_times["engagement_fv"]
    ttl = 14 * 86400
    at_ttl = FeastFeatureReader(store, FEATURE_SERVICE, clock=lambda: stamp + ttl)
    past_ttl = FeastFeatureReader(store, FEATURE_SERVICE, clock=lambda: stamp + ttl + 1)
    assert "sessions_28d" in at_ttl.read([customer])[0].values
    assert "sessions_28d" not in past_ttl.read([customer])[0].values


def test_duplicates_and_empty(engine_feast_repo: FeastFixture) -> None:
    reader = FeastFeatureReader(engine_feast_repo.store(), FEATURE_SERVICE)
    cid = engine_feast_repo.known_ids[5]
    assert reader.read([]) == []
    first, second = reader.read([cid, cid])
    assert first == second and first.found


def test_unknown_feature_service_is_named(engine_feast_repo: FeastFixture) -> None:
    with pytest.raises(FeatureStoreError, match="personalization_v9"):
        describe_service(engine_feast_repo.store(), "personalization_v9")
    with pytest.raises(FeatureStoreError, match="personalization_v9"):
        FeastFeatureReader(engine_feast_repo.store(), "personalization_v9")


def test_service_spec(engine_feast_repo: FeastFixture) -> None:
    spec = describe_service(engine_feast_repo.store(), FEATURE_SERVICE)
    assert spec.join_key == "customer_id"
    assert {v.name: v.features for v in spec.views} == FEATURE_VIEWS
    assert {v.name: v.ttl_seconds for v in spec.views} == {
        "customer_profile_fv": 400 * 86400.0,
        "support_history_fv": 180 * 86400.0,
        "engagement_fv": 14 * 86400.0,
    }
