"""End to end over a real channel: the real server (engine built from settings) on
SQLite and on a private Redis answers Decide and DecideBatch alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server, shutdown
from tests.support.feast import FeastFixture
from tests.support.redis_server import RedisServer
from tests.support.servers import make_request, test_settings


@pytest.fixture(params=["sqlite", "redis"])
def stub(
    request: pytest.FixtureRequest,
    engine_feast_repo: FeastFixture,
    model_dir: Path,
) -> Iterator[pb_grpc.PersonalizationServiceStub]:
    extra = {}
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("engine_redis")
        extra = {"online_store": "redis", "redis": redis.address}
    settings = test_settings(feature_repo=engine_feast_repo.repo, models_dir=model_dir, **extra)
    server, port = create_server(settings)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    health = health_pb2_grpc.HealthStub(channel)
    try:
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        yield pb_grpc.PersonalizationServiceStub(channel)
    finally:
        channel.close()
        shutdown(server, 2.0)


def _comparable(response: pb.DecideResponse) -> pb.DecideResponse:
    copy = pb.DecideResponse()
    copy.CopyFrom(response)
    copy.decision_id = ""
    copy.ClearField("feature_age")
    return copy


def test_decide_and_batch_agree(
    stub: pb_grpc.PersonalizationServiceStub, engine_feast_repo: FeastFixture
) -> None:
    ids = [*engine_feast_repo.known_ids[:40], "nobody-1"]
    singles = [stub.Decide(make_request(cid), timeout=10) for cid in ids]
    batch = stub.DecideBatch(
        pb.DecideBatchRequest(requests=[make_request(cid) for cid in ids]), timeout=10
    )
    assert [_comparable(r) for r in batch.responses] == [_comparable(r) for r in singles]
    assert len({r.decision_id for r in [*singles, *batch.responses]}) == 2 * len(ids)
    reasons = {r.not_personalized_reason for r in singles}
    assert "unknown_customer" in reasons and "" in reasons
    unknown = singles[-1]
    assert not unknown.personalized and unknown.segment.name == "unknown"
    for r in singles:
        assert 0.0 <= r.escalation_risk.probability <= 1.0
        assert 0.0 < r.next_best_action.propensity <= 1.0
        assert r.model_version == "test-v1" and not r.degraded


def test_user_mistake_is_invalid_argument_not_internal(
    stub: pb_grpc.PersonalizationServiceStub,
) -> None:
    bad = make_request("C0000001")
    bad.context.sentiment = 3.0
    with pytest.raises(grpc.RpcError) as err:
        stub.Decide(bad, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "context.sentiment" in (err.value.details() or "")
