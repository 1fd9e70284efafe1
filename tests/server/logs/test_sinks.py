"""ParquetSink (real files, read back with modelio.logrecords.read_log) and
RedisStreamSink (a private redis-server), both behind a QueuedRecordLog."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from modelio.logrecords import (
    DECISION_SCHEMA,
    DECISIONS,
    OUTCOME_SCHEMA,
    OUTCOMES,
    from_stream_entry,
    read_log,
)
from server.errors import RecordLogConfigError
from server.logs import parquet as parquet_module
from server.logs.parquet import ParquetSink
from server.logs.queue import QueuedRecordLog
from server.logs.setup import build_record_log, open_sink
from server.logs.stream import RedisStreamSink
from server.settings import Settings
from tests.support.cluster import SingleNodeCluster
from tests.support.record_sinks import decision_row, log_count, outcome_row
from tests.support.redis_server import RedisServer, start_redis

WRITTEN_AT = datetime(2025, 3, 4, 23, 59, 59, 123456, tzinfo=UTC)


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_parquet_files_hold_exactly_the_rows_with_the_shared_schema(tmp_path: Path) -> None:
    sink = ParquetSink(tmp_path, clock=lambda: WRITTEN_AT)
    log = QueuedRecordLog(sink, batch_max=50, flush_s=60)
    decisions = [decision_row(i) for i in range(120)]
    outcomes = [outcome_row(i) for i in range(7)]
    log.submit(DECISIONS, decisions[:60])
    log.submit(OUTCOMES, outcomes)
    log.submit(DECISIONS, decisions[60:])
    log.close(10)
    table = read_log(tmp_path, DECISIONS)
    assert table.schema == DECISION_SCHEMA
    assert table.to_pylist() == decisions  # every column round-trips, in order
    assert read_log(tmp_path, OUTCOMES).to_pylist() == outcomes
    assert read_log(tmp_path, OUTCOMES).schema == OUTCOME_SCHEMA
    files = _files(tmp_path)
    assert all(f.suffix == ".parquet" and not f.name.startswith(".") for f in files)  # no temp
    day = tmp_path / DECISIONS / "date=2025-03-04"
    parts = sorted(day.iterdir())
    assert len(parts) == 3  # one file per written batch of at most 50 rows
    assert all(p.name.startswith("part-20250304T235959123456Z-") for p in parts)
    assert all(p.name.endswith(f"-{os.getpid()}.parquet") for p in parts)
    assert len(list((tmp_path / OUTCOMES / "date=2025-03-04").iterdir())) == 1


def test_parquet_write_failures_are_retried_and_leave_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync, calls = os.fsync, []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) <= 2:  # the first two file syncs fail (e.g. EIO)
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(parquet_module.os, "fsync", failing_fsync)
    log = QueuedRecordLog(ParquetSink(tmp_path), flush_s=60, retry_backoff_s=0.001)
    before = log_count(DECISIONS, "logged")
    rows = [decision_row(i) for i in range(5)]
    log.submit(DECISIONS, rows)
    log.close(10)
    assert read_log(tmp_path, DECISIONS).to_pylist() == rows
    assert len(_files(tmp_path)) == 1  # only the final file: failed attempts cleaned up
    assert log_count(DECISIONS, "logged") - before == 5


def test_parquet_write_failing_every_time_counts_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_fails(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet_module.os, "fsync", always_fails)
    log = QueuedRecordLog(ParquetSink(tmp_path), flush_s=60, retries=2, retry_backoff_s=0.001)
    before = log_count(DECISIONS, "failed")
    log.submit(DECISIONS, [decision_row(i) for i in range(3)])
    log.close(10)
    assert log_count(DECISIONS, "failed") - before == 3
    assert _files(tmp_path) == []


def test_unwritable_log_dir_is_a_startup_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(RecordLogConfigError, match="decision_log_dir"):
        build_record_log(Settings(decision_log="file", decision_log_dir=not_a_dir / "logs"))


def test_bad_decision_log_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="host:port"):
        Settings(decision_log="redis", decision_log_redis="nohost")
    with pytest.raises(ValueError, match="decision_log_when_full"):
        Settings(decision_log_when_full="block")  # type: ignore[arg-type]
    assert Settings(redis="h:1").decision_log_address == "h:1"
    assert Settings(redis="h:1", decision_log_redis="l:2").decision_log_address == "l:2"


@pytest.fixture(scope="module")
def log_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("log-redis"))
    try:
        yield server
    finally:
        server.stop()


def test_stream_entries_round_trip_to_the_rows(log_redis: RedisServer) -> None:
    log = build_record_log(
        Settings(
            decision_log="redis",
            decision_log_redis=log_redis.address,
            decision_log_stream_prefix="t-roundtrip",
            decision_log_batch_max=40,
        )
    )
    decisions = [decision_row(i) for i in range(100)]
    outcomes = [outcome_row(i) for i in range(5)]
    log.submit(DECISIONS, decisions)
    log.submit(OUTCOMES, outcomes)
    log.close(10)
    client = redis.Redis(host="127.0.0.1", port=log_redis.port)
    got = [from_stream_entry(DECISIONS, f) for _, f in entries(client, "t-roundtrip:decisions")]
    assert got == decisions
    got = [from_stream_entry(OUTCOMES, f) for _, f in entries(client, "t-roundtrip:outcomes")]
    assert got == outcomes


def entries(client: Any, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """XRANGE of the whole stream (redis-py's sync/async union return type narrowed)."""
    return list(client.xrange(stream))


def test_stream_is_capped_near_maxlen(log_redis: RedisServer) -> None:
    client = redis.Redis(host="127.0.0.1", port=log_redis.port)
    sink = RedisStreamSink(client, "t-cap", maxlen=100)
    for start in range(0, 1000, 100):
        sink.write(DECISIONS, [decision_row(i) for i in range(start, start + 100)])
    # Approximate trimming removes whole macro nodes only, so "near" the cap.
    assert 100 <= int(client.xlen("t-cap:decisions")) < 1000  # type: ignore[arg-type]


def test_stream_sink_uses_the_cluster_client_for_redis_cluster(tmp_path: Path) -> None:
    cluster = SingleNodeCluster(tmp_path)
    try:
        log = build_record_log(
            Settings(
                online_store="redis_cluster",
                redis=cluster.address,  # reused: decision_log_redis is unset
                decision_log="redis",
                decision_log_stream_prefix="t-cluster",
            )
        )
        rows = [decision_row(i) for i in range(20)]
        log.submit(DECISIONS, rows)
        log.close(10)
        client = RedisCluster(host="127.0.0.1", port=cluster.port)
        got = entries(client, "t-cluster:decisions")
        assert [from_stream_entry(DECISIONS, f) for _, f in got] == rows
        client.close()
    finally:
        cluster.stop()


def test_redis_cluster_log_with_a_db_fails_at_startup_naming_it(tmp_path: Path) -> None:
    """A Redis Cluster has database 0 only, and redis-py's cluster client refuses ``db``:
    a config error when the sink is opened, not a traceback at the first write."""
    settings = Settings(
        online_store="redis_cluster",
        redis="127.0.0.1:1,db=0",
        decision_log="redis",
        decision_log_dir=tmp_path,
    )
    with pytest.raises(RecordLogConfigError, match="decision_log_redis: db is not supported"):
        open_sink(settings)
