"""A deterministic FakeEngine and a real server on 127.0.0.1 around it (fixtures
``start_server`` and ``running``, re-exported by the conftests that use them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from modelio.vocab import ACTIONS, FORMALITIES
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server
from server.engine.types import (
    Decision,
    DecisionRequest,
    EscalationRisk,
    NextBestAction,
    ScoredAction,
    Segment,
    StyleHints,
)
from server.logs.base import RecordLog
from server.settings import Settings

Code = grpc.StatusCode
EVENT_TIME = datetime(2024, 5, 6, 14, 30, 15, 250000, tzinfo=UTC)


def fake_decision(req: DecisionRequest, model_version: str = "fake-1") -> Decision:
    """A decision that depends on every request field, so conversions can be checked."""
    ctx = req.context
    n = len(req.customer_id)
    probability = round((ctx.sentiment + 1.0) / 2.0, 6)
    band = "low" if probability < 0.34 else "medium" if probability < 0.67 else "high"
    action = ACTIONS[n % len(ACTIONS)]
    alternatives = tuple(
        ScoredAction(ACTIONS[(n + i) % len(ACTIONS)], 0.5 / i) for i in range(1, 3)
    )
    return Decision(
        decision_id=f"d-{req.customer_id}-{ctx.turn_index}",
        request_id=req.request_id,
        segment=Segment(id=n % 4, name=f"segment-{n % 4}"),
        escalation_risk=EscalationRisk(probability=probability, band=band),
        next_best_action=NextBestAction(
            action=action,
            predicted_success=0.75,
            propensity=0.9,
            reason_codes=(ctx.channel, ctx.device, ctx.issue_category),
            alternatives=alternatives,
        ),
        style=StyleHints(formality=FORMALITIES[n % 2], language=ctx.locale[:2]),
        personalized=not req.customer_id.startswith("anon"),
        not_personalized_reason="unknown_customer" if req.customer_id.startswith("anon") else "",
        degraded_reasons=(ctx.timezone, ctx.event_time.isoformat()),
        feature_age_seconds=12.5,
        model_version=model_version,
    )


@dataclass
class FakeEngine:
    """Engine double: deterministic answers, controllable readiness, optional blocking."""

    model_version: str = "fake-1"
    is_ready: bool = True
    gate: threading.Event | None = None  # when set up, decide() waits for it
    error: Exception | None = None  # raised by decide()/decide_batch() when set
    entered: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    batch_calls: int = 0
    closed: bool = False

    def ready(self) -> bool:
        return self.is_ready

    def _enter(self) -> None:
        self.entered.release()
        if self.gate is not None:
            assert self.gate.wait(10), "test never opened the gate"
        if self.error is not None:
            raise self.error

    def decide(self, req: DecisionRequest) -> Decision:
        self._enter()
        return fake_decision(req, self.model_version)

    def decide_batch(self, reqs: list[DecisionRequest]) -> list[Decision]:
        self.batch_calls += 1
        self._enter()
        return [fake_decision(r, self.model_version) for r in reqs]

    def close(self) -> None:
        self.closed = True


def make_request(customer_id: str = "C000123", **context: Any) -> pb.DecideRequest:
    """A valid DecideRequest; keyword arguments override TurnContext fields."""
    ts = Timestamp()
    ts.FromDatetime(EVENT_TIME)
    fields: dict[str, Any] = {
        "channel": "CHANNEL_MOBILE_APP",
        "device_type": "DEVICE_TYPE_TABLET",
        "issue_category": "ISSUE_CATEGORY_SHIPPING",
        "sentiment": -0.4,
        "event_time": ts,
        "time_zone": "Europe/Paris",
        "locale": "fr-FR",
        "turn_index": 3,
    }
    fields.update(context)
    return pb.DecideRequest(
        customer_id=customer_id, request_id="req-1", context=pb.TurnContext(**fields)
    )


def test_settings(**overrides: Any) -> Settings:
    """Settings for an ephemeral server on loopback with fast health polling."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "readiness_poll_s": 0.02,
        "grace_period_s": 5.0,
        "thread_pool_size": 4,
    }
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # not a test despite its name


@dataclass
class Running:
    """A started server with a client channel and stubs."""

    server: grpc.Server
    port: int
    engine: FakeEngine
    channel: grpc.Channel
    stub: pb_grpc.PersonalizationServiceStub
    health: health_pb2_grpc.HealthStub

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def health_status(self, service: str = "") -> str:
        reply = self.health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    def wait_health(self, status: str, service: str = "", timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.health_status(service) != status:
            assert time.monotonic() < deadline, f"health never became {status}"
            time.sleep(0.01)


def serve_fake(
    engine: FakeEngine, settings: Settings, record_log: RecordLog | None = None
) -> Running:
    """A started server around ``engine`` on 127.0.0.1 with a channel and stubs to it."""
    server, port = create_server(settings, engine=engine, record_log=record_log)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return Running(
        server,
        port,
        engine,
        channel,
        pb_grpc.PersonalizationServiceStub(channel),
        health_pb2_grpc.HealthStub(channel),
    )


@pytest.fixture
def start_server() -> Iterator[Callable[..., Running]]:
    """Factory: ``start_server(engine=None, **settings_overrides)`` -> Running."""
    started: list[Running] = []

    def start(engine: FakeEngine | None = None, **overrides: Any) -> Running:
        run = serve_fake(engine or FakeEngine(), test_settings(**overrides))
        started.append(run)
        return run

    yield start
    for run in started:
        gate = getattr(run.engine, "gate", None)
        if gate is not None:
            gate.set()
        run.channel.close()
        run.server.stop(None).wait(5)


@pytest.fixture
def running(start_server: Callable[..., Running]) -> Running:
    """A ready server with a default FakeEngine."""
    run = start_server()
    run.wait_health("SERVING")
    return run
