"""Real ``python -m server`` processes on fixed loopback ports (each killed by its own
handle at the end), and a client channel balancing over several of them the way the
docs tell bot backends to (docs/grpc_service_config.json: round_robin, retries on
UNAVAILABLE)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import grpc
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bench.procs import Child, base_env, free_port, python_module
from server.healthcheck import check

ROOT = Path(__file__).resolve().parents[2]
SERVICE_CONFIG = ROOT / "docs" / "grpc_service_config.json"


@dataclass
class ServerProcess:
    child: Child
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL (no drain): what a crashed host looks like to its clients."""
        if self.child.alive():
            self.child.proc.kill()
            self.child.proc.wait(10)


def server_env(repo: Path, models: Path, **extra: str) -> dict[str, str]:
    """Environment of a server on the repo's SQLite store, JSON logs, no decision log."""
    return base_env(
        PERSONALIZATION_HOST="127.0.0.1",
        PERSONALIZATION_FEATURE_REPO=str(repo),
        PERSONALIZATION_MODELS_DIR=str(models),
        PERSONALIZATION_DECISION_LOG="off",
        PERSONALIZATION_THREAD_POOL_SIZE="8",
        PERSONALIZATION_FEATURE_BUDGET_MS="200",
        PERSONALIZATION_GRACE_PERIOD_S="5",
        PERSONALIZATION_LOG_JSON="true",
        **extra,
    )


@contextmanager
def server_processes(
    envs: Sequence[dict[str, str]], workdir: Path, args: Sequence[str] = ()
) -> Iterator[list[ServerProcess]]:
    """One server per environment, started at once, yielded when all report SERVING."""
    procs: list[ServerProcess] = []
    try:
        for i, env in enumerate(envs):
            port = free_port()
            cmd = python_module("server", "--port", str(port), *args)
            child = Child(f"server-{i}", cmd, workdir / f"server-{i}.log", env)
            procs.append(ServerProcess(child, port))
        for proc in procs:
            proc.child.wait_until(partial(check, proc.target, timeout_s=1.0), 120, "SERVING")
        yield procs
    finally:
        for proc in procs:
            proc.child.stop(grace_s=10)


def metric_samples(port: int, name: str) -> list[Sample]:
    """Every sample of metric ``name`` on ``http://127.0.0.1:port/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def scrape(port: int, name: str) -> float:
    """Sum of every sample of metric ``name`` on ``http://127.0.0.1:port/metrics``."""
    return sum(s.value for s in metric_samples(port, name))


def balanced_channel(targets: Sequence[str]) -> grpc.Channel:
    """One channel over every target: round_robin with the documented retry policy."""
    addresses = ",".join(targets)
    options = [
        ("grpc.service_config", json.dumps(json.loads(SERVICE_CONFIG.read_text()))),
        ("grpc.enable_retries", 1),
    ]
    return grpc.insecure_channel(f"ipv4:{addresses}", options=options)
