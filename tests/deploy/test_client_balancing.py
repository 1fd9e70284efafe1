"""The client configuration docs/deploy.md gives bot backends (deploy/k8s/clients/
service-config.json): gRPC accepts it, round_robin spreads calls over every address the
target resolves to, and when one server goes away the calls keep succeeding.

Two real servers on 127.0.0.1 stand for the pods a headless Service's DNS name returns
(an ``ipv4:`` target lists both, as DNS would)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from threading import Semaphore

import grpc

from personalization.v1 import personalization_pb2_grpc as pb_grpc
from tests.support.k8s import K8S
from tests.support.servers import Running, make_request

CONFIG = K8S / "clients" / "service-config.json"


def _drain(calls: Semaphore) -> int:
    """Calls an engine saw since the last drain (FakeEngine releases once per call)."""
    n = 0
    while calls.acquire(blocking=False):
        n += 1
    return n


def test_round_robin_spreads_calls_and_survives_a_server_leaving(
    start_server: Callable[..., Running],
) -> None:
    config = json.loads(Path(CONFIG).read_text())
    retry = config["methodConfig"][0]["retryPolicy"]
    assert retry["retryableStatusCodes"] == ["UNAVAILABLE"]
    a, b = start_server(), start_server()
    for run in (a, b):
        run.wait_health("SERVING")
    options = [("grpc.service_config", json.dumps(config)), ("grpc.enable_retries", 1)]
    target = f"ipv4:127.0.0.1:{a.port},127.0.0.1:{b.port}"
    with grpc.insecure_channel(target, options=options) as channel:
        grpc.channel_ready_future(channel).result(timeout=5)
        stub = pb_grpc.PersonalizationServiceStub(channel)
        for _ in range(40):
            stub.Decide(make_request(), timeout=5)
        spread = (_drain(a.engine.entered), _drain(b.engine.entered))
        assert sum(spread) == 40 and min(spread) >= 15  # round_robin, not pick_first
        b.server.stop(None).wait(5)
        for _ in range(40):
            stub.Decide(make_request(), timeout=5)  # raises if any call is lost
        assert _drain(a.engine.entered) == 40 and _drain(b.engine.entered) == 0
