"""``python -m server --workers 2`` as real processes: /metrics of the supervisor counts
every worker's decisions, and a reload (SIGHUP to the supervisor, or ReloadModels on
whichever worker a call lands on) reaches every worker."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import grpc
import pytest

from bench.procs import Child, free_port, python_module
from modelio.manifest import set_current
from personalization.v1 import admin_pb2 as admin_pb
from personalization.v1 import admin_pb2_grpc as admin_grpc
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server.healthcheck import check
from tests.support.feast import FeastFixture
from tests.support.model_versions import clone
from tests.support.server_procs import metric_samples, server_env
from tests.support.servers import make_request

pytestmark = pytest.mark.slow

WORKERS, CHANNELS, CALLS = 2, 12, 10
RELOADED = "reloaded models:"


def _connection(target: str) -> grpc.Channel:
    """A channel with its own connection (the kernel spreads connections, not calls,
    over the workers; channels to one target would otherwise share one)."""
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def _versions(target: str, customer: str) -> set[str]:
    """Model versions answering one call on each of ``CHANNELS`` fresh connections."""
    seen = set()
    for _ in range(CHANNELS):
        with _connection(target) as ch:
            stub = pb_grpc.PersonalizationServiceStub(ch)
            seen.add(stub.Decide(make_request(customer), timeout=10).model_version)
    return seen


def _decisions(metrics_port: int) -> float:
    return sum(s.value for s in metric_samples(metrics_port, "personalization_decisions_total"))


def _wait_reloads(child: Child, count: int) -> None:
    child.wait_until(lambda: child.log_tail(10**7).count(RELOADED) >= count, 60, f"{count} reloads")


def test_workers_share_metrics_and_reloads(
    engine_feast_repo: FeastFixture, model_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(model_dir, models)
    clone(models, models / "test-v1", "test-v2")
    clone(models, models / "test-v1", "test-v3")
    port, metrics_port = free_port(), free_port()
    env = server_env(engine_feast_repo.repo, models, PERSONALIZATION_METRICS_PORT=str(metrics_port))
    cmd = python_module("server", "--port", str(port), "--workers", str(WORKERS))
    child = Child("workers", cmd, tmp_path / "workers.log", env)
    target = f"127.0.0.1:{port}"
    try:
        child.wait_until(lambda: check(target, timeout_s=1.0), 120, "SERVING")
        calls = 0
        for _ in range(CHANNELS):  # every new connection may land on another worker
            with _connection(target) as ch:
                stub = pb_grpc.PersonalizationServiceStub(ch)
                for cid in engine_feast_repo.known_ids[:CALLS]:
                    stub.Decide(make_request(cid), timeout=10)
                    calls += 1
        # Workers mirror their scrape-time counts every second (server.metrics_mirror).
        child.wait_until(
            lambda: _decisions(metrics_port) == calls, 15, f"{calls} decisions in /metrics"
        )
        breaker = metric_samples(metrics_port, "personalization_feature_breaker_state")
        pids = {s.labels["pid"] for s in breaker}
        assert len(pids) == WORKERS, breaker  # each worker's own gauge, by pid

        # SIGHUP to the supervisor: every worker reloads models/current once.
        set_current(models, "test-v2")
        child.proc.send_signal(signal.SIGHUP)
        _wait_reloads(child, WORKERS)
        assert _versions(target, engine_feast_repo.known_ids[0]) == {"test-v2"}

        # ReloadModels on one worker: the supervisor passes it on to the other one.
        set_current(models, "test-v3")
        with grpc.insecure_channel(target) as ch:
            reply = admin_grpc.AdminServiceStub(ch).ReloadModels(
                admin_pb.ReloadModelsRequest(), timeout=30
            )
        assert reply.loaded_version == "test-v3"
        _wait_reloads(child, 2 * WORKERS)
        assert _versions(target, engine_feast_repo.known_ids[0]) == {"test-v3"}
        assert child.log_tail(10**7).count(RELOADED) == 2 * WORKERS
    finally:
        child.stop(grace_s=15)
    assert child.proc.returncode == 0, child.log_tail()
