"""Fixtures of this folder: ``serve`` starts CountingServers (tests/support) on 127.0.0.1;
``start_server`` (tests/support/servers) starts real servers around a FakeEngine."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.counting_server import CountingServer, Handler
from tests.support.servers import start_server

__all__ = ["serve", "start_server"]


@pytest.fixture
def serve() -> Iterator[Callable[..., CountingServer]]:
    started: list[CountingServer] = []

    def start(handler: Handler = lambda n: None, workers: int = 8) -> CountingServer:
        server = CountingServer(handler, workers)
        server.server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.server.stop(0).wait()
