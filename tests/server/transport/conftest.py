"""A real server on loopback whose outcomes go to an in-memory record log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.app import create_server
from tests.support.record_logs import MemoryLog
from tests.support.servers import FakeEngine, Running, test_settings


@dataclass
class OutcomeServer:
    run: Running
    log: MemoryLog

    @property
    def stub(self) -> pb_grpc.PersonalizationServiceStub:
        return self.run.stub


Start = Callable[..., OutcomeServer]


@pytest.fixture
def start_outcome_server() -> Iterator[Callable[..., OutcomeServer]]:
    """Factory: ``start_outcome_server(log=None, **settings_overrides)``."""
    started: list[OutcomeServer] = []

    def start(log: MemoryLog | None = None, **overrides: Any) -> OutcomeServer:
        log = log if log is not None else MemoryLog()
        engine = FakeEngine()
        server, port = create_server(test_settings(**overrides), engine=engine, record_log=log)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        run = Running(
            server,
            port,
            engine,
            channel,
            pb_grpc.PersonalizationServiceStub(channel),
            health_pb2_grpc.HealthStub(channel),
        )
        started.append(OutcomeServer(run, log))
        return started[-1]

    yield start
    for s in started:
        s.run.channel.close()
        s.run.server.stop(None).wait(5)


@pytest.fixture
def outcome_server(start_outcome_server: Callable[..., OutcomeServer]) -> OutcomeServer:
    return start_outcome_server()
