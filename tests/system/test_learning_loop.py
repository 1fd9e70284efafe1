"""The learning loop end to end on a real redis-server: decisions and outcomes go to Redis
Streams, ``drain-log`` moves them to parquet, ``feedback`` joins them. Duplicates count
once, an unknown decision id stays unmatched, an invalid outcome stores nothing. Run on
an open Redis and on one that requires a password (given in the address, Feast's
connection-string format: modelio.redis_address)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import redis
from google.protobuf.timestamp_pb2 import Timestamp

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server, shutdown
from server.settings import Settings
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer, start_redis
from tests.support.servers import make_request

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "t-loop"

pytestmark = pytest.mark.redis


@dataclass
class LogRedis:
    server: RedisServer
    password: str | None

    @property
    def address(self) -> str:
        secret = f",password={self.password}" if self.password else ""
        return self.server.address + secret


@pytest.fixture(params=[None, "p@ss:w0rd=42"], ids=["open", "password"])
def log_redis(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LogRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = start_redis(workdir, password=request.param)
    yield LogRedis(server, request.param)
    server.stop()


def _training(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _outcome(decision_id: str, **fields: object) -> pb.RecordOutcomeRequest:
    now = Timestamp()
    now.GetCurrentTime()
    request = pb.RecordOutcomeRequest(decision_id=decision_id, **fields)  # type: ignore[arg-type]
    request.event_time.CopyFrom(now)
    return request


def test_decisions_and_outcomes_through_streams_drain_and_join(
    engine_feast_repo: FeastFixture, model_dir: Path, log_redis: LogRedis, tmp_path: Path
) -> None:
    settings = Settings(
        host="127.0.0.1",
        port=0,
        feature_repo=engine_feast_repo.repo,
        models_dir=model_dir,
        decision_log="redis",
        decision_log_redis=log_redis.address,
        decision_log_stream_prefix=PREFIX,
        decision_log_flush_s=0.05,
        gc_tuning=False,
    )
    server, port = create_server(settings)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.PersonalizationServiceStub(channel)
            ids = [
                stub.Decide(make_request(cid), timeout=20).decision_id
                for cid in engine_feast_repo.known_ids[:6]
            ]
            first = stub.RecordOutcome(_outcome(ids[0], resolved=True), timeout=20)
            retry = stub.RecordOutcome(_outcome(ids[0], resolved=True), timeout=20)
            stub.RecordOutcome(_outcome(ids[1], escalated=True, csat=2), timeout=20)
            stub.RecordOutcome(_outcome("never-issued", resolved=True), timeout=20)
            with pytest.raises(grpc.RpcError) as bad:
                stub.RecordOutcome(_outcome(ids[2], csat=9), timeout=20)
    finally:
        shutdown(server, 5)  # closes the engine, which writes out what is queued
    assert (first.duplicate, retry.duplicate) == (False, True)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "csat" in (bad.value.details() or "")
    client = redis.Redis(host="127.0.0.1", port=log_redis.server.port, password=log_redis.password)
    assert client.xlen(f"{PREFIX}:decisions") == 6
    assert client.xlen(f"{PREFIX}:outcomes") == 4  # the invalid one stored nothing

    log_dir, out = tmp_path / "logs", tmp_path / "feedback"
    drained = _training(
        "drain-log", "--redis", log_redis.address, "--stream-prefix", PREFIX,
        "--log-dir", str(log_dir), "--json",
    )  # fmt: skip
    assert drained["decisions"] == {"read": 6, "rows": 6, "dead": 0, "parts": 1}
    assert drained["outcomes"] == {"read": 4, "rows": 4, "dead": 0, "parts": 1}
    report = _training(
        "feedback", "--log-dir", str(log_dir), "--out", str(out),
        "--models-dir", str(model_dir), "--now", "2999-01-01T00:00:00+00:00", "--json",
    )  # fmt: skip
    assert report["decisions"] == 6 and report["outcomes"] == 4
    assert report["matched"] == 2
    assert report["duplicate_outcomes"] == 1
    assert report["unmatched"] == 1
    assert report["defaulted"] == 4  # no outcome within the wait: the default reward
    assert report["pending"] == 0
    assert report["rows"] == 6
    if log_redis.password:  # a wrong one: refused, and the message never shows the secret
        wrong = f"{log_redis.server.address},password=not-the-one"
        done = subprocess.run(
            [sys.executable, "-m", "training", "drain-log", "--redis", wrong,
             "--stream-prefix", PREFIX, "--log-dir", str(tmp_path / "nothing")],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert f"cannot reach Redis at {log_redis.server.address},password=***" in done.stderr
        assert "not-the-one" not in done.stderr + done.stdout
