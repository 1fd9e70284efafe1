"""Conversation state end to end: the real server (engine built from settings) over a
real channel, on a private redis-server and on the embedded SQLite store.

A conversation's first Decide, then RecordOutcome(failed) naming the conversation,
then its second Decide: the failed action is not chosen again. The response says how
fresh the real-time state was, or why the batch profile was used instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelio.conversation import IDLE_TTL_S
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server, shutdown
from tests.support.feast import FeastFixture
from tests.support.models import make_model_version
from tests.support.redis_server import RedisServer
from tests.support.servers import make_request, test_settings

Stub = pb_grpc.PersonalizationServiceStub
HANDOFF = pb.Action.Name(pb.ACTION_HUMAN_HANDOFF)


@pytest.fixture(scope="module")
def greedy_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A version that never explores, so a turn's action is the model's best one."""
    models = tmp_path_factory.mktemp("greedy-models")
    make_model_version(models, "greedy-v1", policy={"epsilon": 0.0})
    return models


@pytest.fixture
def serve(
    request: pytest.FixtureRequest, engine_feast_repo: FeastFixture, greedy_models: Path
) -> Iterator[Callable[..., Stub]]:
    """``serve(kind, **settings)`` -> a stub of a started real server on that store."""
    opened: list[tuple[Any, grpc.Channel]] = []

    def start(kind: str, **overrides: Any) -> Stub:
        extra: dict[str, Any] = {}
        if kind == "redis":
            redis: RedisServer = request.getfixturevalue("engine_redis")
            extra = {"online_store": "redis", "redis": redis.address}
        settings = test_settings(
            feature_repo=engine_feast_repo.repo,
            models_dir=greedy_models,
            feature_budget_ms=5000.0,  # a slow CI box must not turn answers degraded
            **extra,
            **overrides,
        )
        server, port = create_server(settings)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        opened.append((server, channel))
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        return pb_grpc.PersonalizationServiceStub(channel)

    yield start
    for server, channel in opened:
        channel.close()
        shutdown(server, 2.0)


def _turn(customer: str, conversation: str | None, turn: int) -> pb.DecideRequest:
    req = make_request(customer, sentiment=0.2, turn_index=turn)
    if conversation is not None:
        req.conversation_id = conversation
    return req


def _failed(decision_id: str, conversation: str) -> pb.RecordOutcomeRequest:
    ts = Timestamp()
    ts.FromDatetime(datetime.now(UTC))
    return pb.RecordOutcomeRequest(
        decision_id=decision_id,
        resolved=False,
        escalated=False,
        event_time=ts,
        conversation_id=conversation,
    )


def _first_turn(stub: Stub, fx: FeastFixture) -> tuple[str, str, pb.DecideResponse]:
    """A known customer, a new conversation and its first answer, chosen by the model
    (not forced) and not a human handoff (which the policy never rules out)."""
    for customer in fx.known_ids[:60]:
        conversation = f"conv-{uuid.uuid4().hex}"
        first = stub.Decide(_turn(customer, conversation, 1), timeout=10)
        nba = first.next_best_action
        if (
            first.personalized
            and nba.action != pb.ACTION_HUMAN_HANDOFF
            and list(nba.reason_codes) == ["highest_predicted_success"]
        ):
            return customer, conversation, first
    raise AssertionError("no customer with a clear first action")


@contextmanager
def _invalid(field: str) -> Iterator[None]:
    with pytest.raises(grpc.RpcError) as err:
        yield
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (err.value.details() or "")


@pytest.mark.parametrize("kind", [pytest.param("redis", marks=pytest.mark.redis), "sqlite"])
def test_failed_action_is_not_chosen_again(
    serve: Callable[..., Stub], engine_feast_repo: FeastFixture, kind: str
) -> None:
    stub = serve(kind)
    customer, conversation, first = _first_turn(stub, engine_feast_repo)
    assert list(first.realtime_fallback_reasons) == ["no_conversation_state"]
    assert not first.HasField("realtime_age")  # no real-time row was used

    # Control: a conversation whose action did not fail repeats it (epsilon 0).
    other = f"conv-{uuid.uuid4().hex}"
    stub.Decide(_turn(customer, other, 1), timeout=10)
    again = stub.Decide(_turn(customer, other, 2), timeout=10)
    assert again.next_best_action.action == first.next_best_action.action
    assert list(again.realtime_fallback_reasons) == []

    receipt = stub.RecordOutcome(_failed(first.decision_id, conversation), timeout=10)
    assert receipt.recorded
    second = stub.Decide(_turn(customer, conversation, 2), timeout=10)
    assert second.next_best_action.action != first.next_best_action.action
    assert list(second.realtime_fallback_reasons) == []
    assert second.HasField("realtime_age")
    assert 0 <= second.realtime_age.ToTimedelta().total_seconds() < IDLE_TTL_S
    # Without a conversation id nothing of the conversation is used or reported.
    plain = stub.Decide(_turn(customer, None, 2), timeout=10)
    assert plain.next_best_action.action == first.next_best_action.action
    assert list(plain.realtime_fallback_reasons) == [] and not plain.HasField("realtime_age")


@pytest.mark.redis
def test_outcome_the_conversation_does_not_remember_is_still_recorded(
    serve: Callable[..., Stub], engine_feast_repo: FeastFixture
) -> None:
    stub = serve("redis")
    customer, conversation, first = _first_turn(stub, engine_feast_repo)
    stranger = stub.RecordOutcome(_failed("not-a-decision-of-it", conversation), timeout=10)
    nowhere = stub.RecordOutcome(_failed(first.decision_id, "conv-unknown"), timeout=10)
    assert stranger.recorded and nowhere.recorded
    second = stub.Decide(_turn(customer, conversation, 2), timeout=10)
    assert second.next_best_action.action == first.next_best_action.action


def test_stale_state_falls_back_to_the_batch_profile(
    serve: Callable[..., Stub], engine_feast_repo: FeastFixture
) -> None:
    stub = serve("sqlite", realtime_stale_s=1e-6)  # every stored state is stale at once
    customer, conversation, first = _first_turn(stub, engine_feast_repo)
    stub.RecordOutcome(_failed(first.decision_id, conversation), timeout=10)
    second = stub.Decide(_turn(customer, conversation, 2), timeout=10)
    assert list(second.realtime_fallback_reasons) == ["conversation_state_stale"]
    assert not second.HasField("realtime_age")
    assert second.next_best_action.action == first.next_best_action.action


def test_conversation_ids_are_validated(serve: Callable[..., Stub]) -> None:
    stub = serve("sqlite")
    for bad in ("conv\n1", "x" * 129):
        with _invalid("conversation_id"):
            stub.Decide(_turn("C0000001", bad, 1), timeout=10)
        with _invalid("conversation_id"):
            stub.RecordOutcome(_failed("d-1", bad), timeout=10)
    batch = pb.DecideBatchRequest(requests=[_turn("C0000001", "ok", 1), _turn("C2", "\x00", 1)])
    with _invalid("requests[1].conversation_id"):
        stub.DecideBatch(batch, timeout=10)
    assert stub.Decide(_turn("C0000001", "x" * 128, 1), timeout=10).decision_id


@pytest.mark.redis
def test_concurrent_turns_through_the_engine_are_all_kept(
    engine_feast_repo: FeastFixture, engine_redis: RedisServer, greedy_models: Path
) -> None:
    """8 threads decide 320 turns of 5 conversations at once on the real engine: the
    deferred writes, the races they lose and their redos keep every turn exactly once."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    from server.engine.factory import build_engine
    from server.transport.convert import decision_request_from_proto

    settings = test_settings(
        feature_repo=engine_feast_repo.repo,
        models_dir=greedy_models,
        online_store="redis",
        redis=engine_redis.address,
        feature_budget_ms=5000.0,
        decision_log="off",
    )
    engine = build_engine(settings)
    tracker = engine.conversations
    assert tracker is not None
    prefix = f"conv-many-{uuid.uuid4().hex[:8]}"
    base = decision_request_from_proto(
        _turn(engine_feast_repo.known_ids[0], None, 1), max_customer_id_length=128
    )

    def turns(worker: int) -> None:
        for i in range(40):
            cid = f"{prefix}-{(worker + i) % 5}"
            engine.decide(dataclasses.replace(base, conversation_id=cid))

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(turns, range(8)))
        assert tracker.flush(30.0)
        reads = tracker.store.read([f"{prefix}-{k}" for k in range(5)])
        assert sum(r.state.turns for r in reads if r.state is not None) == 8 * 40
    finally:
        engine.close()
