"""Replicas behind client-side load balancing: two ``python -m server`` processes, one
channel over both (round_robin, retries on UNAVAILABLE: docs/grpc_service_config.json).
Both take calls; one is SIGKILLed under ~300 Decide/s and not one call fails."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.procs import free_port
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from tests.support.chaos import open_loop
from tests.support.feast import FeastFixture
from tests.support.server_procs import balanced_channel, scrape, server_env, server_processes
from tests.support.servers import make_request

pytestmark = pytest.mark.slow

RATE, DURATION_S, KILL_AT_S = 300.0, 5.0, 1.5
DECISIONS = "personalization_decisions_total"


def test_replica_killed_under_load_fails_no_call(
    engine_feast_repo: FeastFixture, model_dir: Path, tmp_path: Path
) -> None:
    ids = engine_feast_repo.known_ids[:300]
    ports = [free_port(), free_port()]
    envs = [
        server_env(engine_feast_repo.repo, model_dir, PERSONALIZATION_METRICS_PORT=str(p))
        for p in ports
    ]
    with server_processes(envs, tmp_path) as (first, second):
        channel = balanced_channel([first.target, second.target])
        stub = pb_grpc.PersonalizationServiceStub(channel)

        def request(i: int) -> pb.DecideRequest:
            return make_request(ids[i % len(ids)])

        try:
            warm = open_loop(stub, request, RATE, 1.0)
            served = [scrape(p, DECISIONS) for p in ports]
            killer = _kill_later(first.kill, KILL_AT_S)
            outcomes = open_loop(stub, request, RATE, DURATION_S)
            killer.join()
        finally:
            channel.close()
        assert not first.child.alive()
        survivor = scrape(ports[1], DECISIONS)
    codes = collections.Counter(o.code.name for o in warm + outcomes)
    print(f"\nreplicas: {dict(codes)}; before the kill {served} decisions per replica, "
          f"the survivor {survivor:.0f} in all")  # fmt: skip
    assert codes == {"OK": int(RATE * (1.0 + DURATION_S))}, codes
    assert min(served) > 0.3 * RATE, served  # round_robin: both took their share
    assert survivor - served[1] > RATE * (DURATION_S - KILL_AT_S) * 0.9


def _kill_later(kill: Callable[[], None], delay_s: float) -> threading.Thread:
    def run() -> None:
        time.sleep(delay_s)
        kill()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread
