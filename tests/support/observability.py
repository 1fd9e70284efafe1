"""A real server around the real engine serving an experiment (control v1, explore v2) on
guarded scripted features, and reading the Prometheus exposition back as numbers.

The engine is :class:`~server.engine.decide.DecisionEngine` on the versions of
:mod:`tests.support.experiments` behind a :class:`~server.features.guard.GuardedReader`
(so feature reads are timed), started by ``server.app.create_server`` on port 0.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from prometheus_client.parser import text_string_to_metric_families

from modelio.experiment import write_experiment
from personalization.v1 import personalization_pb2 as pb
from personalization.v1 import personalization_pb2_grpc as pb_grpc
from server import metrics
from server.app import create_server, shutdown
from server.engine.decide import DecisionEngine
from server.logs.base import RecordLog
from server.models.reload import ModelReloader
from server.models.runner import ModelRunner
from tests.support.engines import NOW_TS, ScriptedReader
from tests.support.experiment_engines import rows
from tests.support.experiments import experiment, linked_models
from tests.support.fake_features import guarded
from tests.support.redis_server import free_port
from tests.support.servers import test_settings

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Live:
    """A started server, a stub to it and its metrics endpoint."""

    engine: DecisionEngine
    channel: grpc.Channel
    stub: pb_grpc.PersonalizationServiceStub
    metrics_port: int

    def scrape(self) -> Samples:
        """Every sample of ``/metrics``: (name, labels) -> value."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return parse(reply.read().decode())


def parse(text: str) -> Samples:
    """Prometheus text exposition as (sample name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def action_name(response: pb.DecideResponse) -> str:
    """The vocab name of the response's action (``ACTION_OFFER`` -> ``offer``)."""
    return pb.Action.Name(response.next_best_action.action).removeprefix("ACTION_").lower()


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much :func:`total` grew from ``before`` to ``after``."""
    return total(after, name, **labels) - total(before, name, **labels)


def experiment_engine(
    models: Path,
    tmp: Path,
    scripted: ScriptedReader | None = None,
    log: RecordLog | None = None,
) -> DecisionEngine:
    """The real engine on ``models`` (linked into ``tmp``) serving control/explore, on
    ``scripted`` (default: every other customer known) behind a guarded reader, logging
    into ``log`` (default: nothing)."""
    fresh = linked_models(models, tmp / "models")
    write_experiment(fresh, experiment())
    reader = guarded(scripted or ScriptedReader(rows()))
    runner = ModelRunner.load(fresh)
    engine = DecisionEngine(runner, reader, clock=lambda: NOW_TS, log=log)
    ModelReloader(engine, fresh).load_experiment()
    return engine


@contextmanager
def live_server(engine: DecisionEngine, **settings: Any) -> Iterator[Live]:
    """``engine`` served on 127.0.0.1 (port 0) with a metrics endpoint; stopped after."""
    port = free_port()
    stop_metrics = metrics.start_http(port)
    assert stop_metrics is not None, "metrics endpoint did not start"
    server, grpc_port = create_server(test_settings(**settings), engine=engine)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    try:
        yield Live(engine, channel, pb_grpc.PersonalizationServiceStub(channel), port)
    finally:
        channel.close()
        shutdown(server, 5.0)
        stop_metrics()
