"""max_connection_age_s: the server closes client connections after that age (so
round_robin clients resolve again and reach new replicas); calls keep succeeding."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc

from tests.support.servers import Running, make_request


def _states(run: Running) -> tuple[list[grpc.ChannelConnectivity], threading.Event]:
    seen: list[grpc.ChannelConnectivity] = []
    idle_after_ready = threading.Event()

    def note(state: grpc.ChannelConnectivity) -> None:
        seen.append(state)
        if state == grpc.ChannelConnectivity.IDLE and grpc.ChannelConnectivity.READY in seen:
            idle_after_ready.set()

    run.channel.subscribe(note, try_to_connect=True)
    return seen, idle_after_ready


def test_connections_are_closed_at_the_configured_age(
    start_server: Callable[..., Running],
) -> None:
    run = start_server(max_connection_age_s=0.3)
    seen, closed = _states(run)
    assert run.stub.Decide(make_request("C1"), timeout=5).request_id == "req-1"
    assert closed.wait(10), f"the server never closed the connection: {seen}"
    assert run.stub.Decide(make_request("C1"), timeout=5).request_id == "req-1"  # reconnects


def test_without_an_age_the_connection_stays_open(start_server: Callable[..., Running]) -> None:
    run = start_server()
    seen, closed = _states(run)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # calls over 5x the age the other test sets
        run.stub.Decide(make_request("C1"), timeout=5)
        time.sleep(0.05)
    assert not closed.is_set(), seen
