"""RedisFeatureReader reads exactly what Feast's own get_online_features returns."""

from __future__ import annotations

import contextlib
import math
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from redis.cluster import RedisCluster
from redis.connection import Connection

from modelio.feast_compat import redis_key
from modelio.vocab import FEATURE_SERVICE
from server.features.base import CustomerFeatures, FeatureReadError, describe_service, is_live
from server.features.feast_reader import FeastFeatureReader
from server.features.redis_reader import RedisFeatureReader, connect
from tests.support.chaos import private_redis
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer, free_port

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


def thousand_ids(fx: FeastFixture) -> list[str]:
    """960 known customers and 40 ids the store has never seen, interleaved."""
    ids = list(fx.known_ids[:960])
    for i in range(40):
        ids.insert(i * 24, f"UNKNOWN-{i:03d}")
    return ids


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
    assert reader._key_head is not None  # the precomputed prefix is in use, and agrees:
    for cid in ["", "x", "é-ü/✓ 漢字", "a" * 1000, "C\x00\x01", *engine_feast_repo.known_ids[:200]]:
        entity = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=cid)])
        assert reader.key(cid) == redis_key(store.config.project, entity, 3), cid


def engine_redis_has(server: RedisServer, key: bytes) -> bool:
    client = connect(server.address, cluster=False)
    try:
        return bool(client.exists(key))
    finally:
        client.close()


class CountingClient:
    """Wraps a redis client and counts pipeline executions (round trips)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.executions = 0
        self.commands = 0

    def pipeline(self, transaction: bool = True) -> Any:
        assert transaction is False
        pipe = self.inner.pipeline(transaction=False)
        original = pipe.execute

        def execute(*args: Any, **kwargs: Any) -> Any:
            self.executions += 1
            self.commands += len(pipe.command_stack)
            return original(*args, **kwargs)

        pipe.execute = execute
        return pipe

    def close(self) -> None:
        self.inner.close()


def test_one_round_trip_per_read(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer
) -> None:
    store = engine_feast_repo.store("redis", engine_redis.address)
    client = CountingClient(connect(engine_redis.address, cluster=False))
    reader = RedisFeatureReader(store, FEATURE_SERVICE, client=client)
    reader.read(list(engine_feast_repo.known_ids[:50]))
    assert (client.executions, client.commands) == (1, 50)  # one HMGET per customer
    assert reader.self_timeout_s is None  # a caller's client: its timeouts are unknown
    reader.close()


def hmget_calls(client: Any) -> int:
    return int(client.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0))


def test_direct_resp_path_is_one_write_and_matches_the_pipeline(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = engine_feast_repo.store("redis", engine_redis.address)
    now = time.time()
    direct = RedisFeatureReader(store, FEATURE_SERVICE, clock=lambda: now)
    piped = RedisFeatureReader(
        store,
        FEATURE_SERVICE,
        clock=lambda: now,
        client=CountingClient(connect(engine_redis.address, cluster=False)),
    )
    ids = ["", "é-ü/✓", *thousand_ids(engine_feast_repo)]
    assert direct.read(ids) == piped.read(ids)
    writes: list[int] = []
    send = Connection.send_packed_command

    def counted(conn: Connection, command: Any, check_health: bool = True) -> None:
        writes.append(1)
        send(conn, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    admin = connect(engine_redis.address, cluster=False)
    before = hmget_calls(admin)
    writes.clear()
    direct.read(ids[:50])
    assert len(writes) == 1  # one write for all 50 customers
    assert hmget_calls(admin) - before == 50
    for reader in (direct, piped, admin):
        reader.close()


def test_direct_path_survives_a_dropped_connection_and_a_bad_key(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, tmp_path: Path
) -> None:
    with private_redis(tmp_path, engine_redis) as server:
        store = engine_feast_repo.store("redis", server.address)
        reader = RedisFeatureReader(store, FEATURE_SERVICE, timeout_s=1.0)
        ids = list(engine_feast_repo.known_ids[:20])
        first = reader.read(ids)
        admin = connect(server.address, cluster=False)
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1  # the pooled one
        assert reader.read(ids) == first  # reconnected, not degraded
        admin.set(reader.key("WRONG-TYPE"), b"a string, not a hash")
        with pytest.raises(FeatureReadError) as caught:
            reader.read([ids[0], "WRONG-TYPE", ids[1]])
        assert caught.value.reason == "feature_store_unavailable"
        assert reader.read(ids) == first  # the failed read's other replies are not read now
        reader.close()
        admin.close()


def test_direct_path_logs_in_with_the_connection_strings_password(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, tmp_path: Path
) -> None:
    now = time.time()
    ids = list(engine_feast_repo.known_ids[:20])

    def reader_for(connection_string: str) -> RedisFeatureReader:
        store = engine_feast_repo.store("redis", connection_string)
        return RedisFeatureReader(store, FEATURE_SERVICE, clock=lambda: now, timeout_s=1.0)

    with private_redis(tmp_path, engine_redis) as server:
        first = reader_for(server.address)
        expected = first.read(ids)
        admin = connect(server.address, cluster=False)
        admin.config_set("requirepass", "s3cret")
        admin.close()
        anonymous = reader_for(server.address)
        with pytest.raises(FeatureReadError) as caught:
            anonymous.read(ids)
        assert caught.value.reason == "feature_store_unavailable"
        reader = reader_for(f"{server.address},password=s3cret")
        assert reader.read(ids) == expected and reader.ping()
        for each in (first, anonymous, reader):
            each.close()


def test_store_down_is_a_read_error(
    engine_feast_repo: FeastFixture,
    engine_redis: RedisServer,  # registry applied
) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    store = engine_feast_repo.store("redis", address)
    reader = RedisFeatureReader(store, FEATURE_SERVICE, timeout_s=0.2)
    assert reader.ping() is False
    with pytest.raises(FeatureReadError) as caught:
        reader.read(["C0000001"])
    assert caught.value.reason == "feature_store_unavailable"
    reader.close()


def test_slow_store_is_a_timeout(
    engine_feast_repo: FeastFixture,
    engine_redis: RedisServer,  # registry applied
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        store = engine_feast_repo.store("redis", address)
        reader = RedisFeatureReader(store, FEATURE_SERVICE, timeout_s=0.05)
        started = time.monotonic()
        with pytest.raises(FeatureReadError) as caught:
            reader.read(["C0000001"])
        assert caught.value.reason == "feature_timeout"
        assert time.monotonic() - started < 1.0
        assert reader.self_timeout_s == 0.05  # so the guard may call it inline
        reader.close()
        silent.setblocking(False)
        connections = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                silent.accept()[0].close()
                connections += 1
        assert connections == 1  # a timeout is not retried on a new connection


def test_rejects_a_non_redis_store(engine_feast_repo: FeastFixture) -> None:
    with pytest.raises(ValueError, match="redis online store"):
        RedisFeatureReader(engine_feast_repo.store("sqlite"), FEATURE_SERVICE)


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
