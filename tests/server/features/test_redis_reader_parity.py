"""RedisFeatureReader reads exactly what Feast's own get_online_features returns: the same
values and timestamps as Feast and as SQLite, under Feast's keys, on Redis Cluster too."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from redis.cluster import RedisCluster

from modelio.feast_compat import redis_key
from modelio.vocab import FEATURE_SERVICE
from server.features.base import CustomerFeatures, describe_service, is_live
from server.features.feast_reader import FeastFeatureReader
from server.features.redis_reader import RedisFeatureReader
from server.features.redis_wire import connect
from tests.support.feast import FeastFixture, thousand_ids
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def feast_answer(store: Any, ids: list[str], now: float) -> list[CustomerFeatures]:
    """Feast's ``get_online_features(...).to_dict()``, with the TTL rule applied."""
    spec = describe_service(store, FEATURE_SERVICE)
    answer = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"customer_id": cid} for cid in ids],
        full_feature_names=True,
    ).to_dict(include_event_timestamps=True)
    out = [CustomerFeatures(cid) for cid in ids]
    for view in spec.views:
        stamps = answer[f"{view.name}__{view.features[0]}__ts"]
        for row, stamp in enumerate(stamps):
            if not is_live(float(stamp), view.ttl_seconds, now):
                continue
            out[row].event_times[view.name] = float(stamp)
            for name in view.features:
                value = answer[f"{view.name}__{name}"][row]
                if value is not None and not (isinstance(value, float) and math.isnan(value)):
                    out[row].values[name] = value
    return out


def test_parity_with_get_online_features(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer
) -> None:
    store = engine_feast_repo.store("redis", engine_redis.address)
    now = time.time()
    ids = thousand_ids(engine_feast_repo)
    assert len(ids) == 1000
    expected = feast_answer(store, ids, now)
    fast = RedisFeatureReader(store, FEATURE_SERVICE, clock=lambda: now).read(ids)
    generic = FeastFeatureReader(store, FEATURE_SERVICE, clock=lambda: now).read(ids)
    for want, got, also in zip(expected, fast, generic, strict=True):
        assert got.customer_id == want.customer_id
        assert got.values == want.values, got.customer_id
        assert {k: type(v) for k, v in got.values.items()} == {
            k: type(v) for k, v in want.values.items()
        }
        assert got.event_times.keys() == want.event_times.keys()
        for view, stamp in want.event_times.items():
            assert got.event_times[view] == pytest.approx(stamp, abs=1.0)
        assert also.values == got.values and also.event_times == got.event_times
    # the sample covers unknown ids, expired values and customers absent from views
    assert sum(not r.found for r in fast) >= 40
    assert any(r.found and "sessions_28d" not in r.values for r in fast)
    assert any(r.found and "plan_tier" not in r.values for r in fast)


def test_same_as_sqlite(engine_feast_repo: FeastFixture, engine_redis: RedisServer) -> None:
    now = time.time()
    ids = thousand_ids(engine_feast_repo)[:200]
    redis_store = engine_feast_repo.store("redis", engine_redis.address)
    fast = RedisFeatureReader(redis_store, FEATURE_SERVICE, clock=lambda: now).read(ids)
    sqlite = FeastFeatureReader(engine_feast_repo.store(), FEATURE_SERVICE, clock=lambda: now)
    assert fast == sqlite.read(ids)


def test_key_is_feasts(engine_feast_repo: FeastFixture, engine_redis: RedisServer) -> None:
    store = engine_feast_repo.store("redis", engine_redis.address)
    reader = RedisFeatureReader(store, FEATURE_SERVICE)
    entity = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val="C0000042")])
    assert reader.key("C0000042") == redis_key(store.config.project, entity, 3)
    assert engine_redis_has(engine_redis, reader.key("C0000042"))
    assert reader._keys.head is not None  # the precomputed prefix is in use, and agrees:
    for cid in ["", "x", "é-ü/✓ 漢字", "a" * 1000, "C\x00\x01", *engine_feast_repo.known_ids[:200]]:
        entity = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=cid)])
        assert reader.key(cid) == redis_key(store.config.project, entity, 3), cid


def engine_redis_has(server: RedisServer, key: bytes) -> bool:
    client = connect(server.address, cluster=False)
    try:
        return bool(client.exists(key))
    finally:
        client.close()


def test_redis_cluster(engine_feast_repo: FeastFixture, engine_redis_cluster: Any) -> None:
    store = engine_feast_repo.store("redis_cluster", engine_redis_cluster.address)
    now = time.time()
    reader = RedisFeatureReader(store, FEATURE_SERVICE, clock=lambda: now)
    assert isinstance(reader._client, RedisCluster) and reader.ping()
    assert reader.self_timeout_s is None  # redirects and retries: not bounded by one timeout
    ids = thousand_ids(engine_feast_repo)[:300]
    sqlite = FeastFeatureReader(engine_feast_repo.store(), FEATURE_SERVICE, clock=lambda: now)
    assert reader.read(ids) == sqlite.read(ids)
    reader.close()
