"""A real server on loopback whose outcomes go to an in-memory record log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from tests.support.record_logs import MemoryLog
from tests.support.servers import FakeEngine, Running, serve_fake, test_settings


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
        run = serve_fake(FakeEngine(), test_settings(**overrides), record_log=log)
        started.append(OutcomeServer(run, log))
        return started[-1]

    yield start
    for s in started:
        s.run.channel.close()
        s.run.server.stop(None).wait(5)


@pytest.fixture
def outcome_server(start_outcome_server: Callable[..., OutcomeServer]) -> OutcomeServer:
    return start_outcome_server()
