"""RedisFeatureReader on the wire: one round trip per read, the direct RESP path (same answer
as the pipeline, survives dropped connections, logs in), and a store that is down, slow or
not Redis."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from redis.connection import Connection

from modelio.vocab import FEATURE_SERVICE
from server.features.base import FeatureReadError
from server.features.redis_reader import RedisFeatureReader
from server.features.redis_wire import connect
from tests.support.chaos import private_redis
from tests.support.feast import FeastFixture, thousand_ids
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.redis


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
