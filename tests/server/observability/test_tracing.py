"""OpenTelemetry tracing: one Decide makes the RPC's server span with the engine's feature
read, models and policy as its children; off, nothing of OpenTelemetry is loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from server import tracing
from server.settings import Settings
from tests.support.experiment_engines import CUSTOMERS
from tests.support.observability import experiment_engine, live_server
from tests.support.servers import make_request

ROOT = Path(__file__).resolve().parents[3]
DECIDE = "/personalization.v1.PersonalizationService/Decide"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Spans of the process, exported synchronously into memory; tracing off after."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.uninstall()


def test_a_decide_is_a_server_span_with_feature_read_models_and_policy_children(
    models: Path, tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    caller = [("traceparent", f"00-{TRACE_ID}-{CALLER_SPAN}-01")]
    with live_server(experiment_engine(models, tmp_path), tracing="console") as live:
        answer = live.stub.Decide(make_request(CUSTOMERS[0]), timeout=10, metadata=caller)
        spans = exported.get_finished_spans()
        with pytest.raises(grpc.RpcError) as bad:  # the error table still answers
            live.stub.Decide(make_request(time_zone="Mars/Olympus_Mons"), timeout=10)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    refused = exported.get_finished_spans()[len(spans) :]
    assert [s.name for s in refused] == [DECIDE]  # refused before the engine: no children
    assert (refused[0].attributes or {})["rpc.grpc.status_code"] == 3
    # A caller's mistake is not the server's error (OpenTelemetry's gRPC conventions).
    assert refused[0].status.status_code is StatusCode.UNSET
    servers = [s for s in spans if s.name == DECIDE]
    assert len(servers) == 1 and servers[0].kind is SpanKind.SERVER
    server = servers[0]
    assert server.context is not None and server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID  # the caller's trace goes on
    assert f"{server.parent.span_id:016x}" == CALLER_SPAN
    children = {s.name: s for s in spans if s.parent and s.parent.span_id == server.context.span_id}
    assert set(children) == {"feature_read", "models", "policy"}
    assert all(s.context and s.context.trace_id == server.context.trace_id for s in spans)
    feature_read, models_span, policy = (children[n] for n in ("feature_read", "models", "policy"))
    assert feature_read.end_time is not None and models_span.start_time is not None
    assert feature_read.end_time <= models_span.start_time  # read, then models, then policy
    assert models_span.end_time is not None and policy.start_time is not None
    assert models_span.end_time <= policy.start_time
    assert dict(models_span.attributes or {}) == {
        "version": answer.model_version,
        "arm": answer.arm,
        "rows": 1,
    }
    assert dict(feature_read.attributes or {}) == {"customers": 1}


def test_health_checks_make_no_span(
    models: Path, tmp_path: Path, exported: InMemorySpanExporter
) -> None:
    with live_server(experiment_engine(models, tmp_path), tracing="console") as live:
        health = health_pb2_grpc.HealthStub(live.channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
    assert exported.get_finished_spans() == ()


def test_off_makes_no_span_and_loads_no_opentelemetry() -> None:
    assert not tracing.enabled()
    assert tracing.span("feature_read") is tracing.span("models", rows=3)  # one shared no-op
    assert tracing.configure(Settings(tracing="off")) is None and not tracing.enabled()
    code = (
        "import json, sys\n"
        "from server.app import create_server\n"
        "from tests.support.servers import FakeEngine, test_settings\n"
        "server, _ = create_server(test_settings(), engine=FakeEngine())\n"
        "server.start(); server.stop(None).wait(5)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("mode", "exporter"),
    [("console", "ConsoleSpanExporter"), ("otlp", "OTLPSpanExporter"), ("discard", "Discard")],
)
def test_each_mode_has_its_exporter(mode: str, exporter: str) -> None:
    settings = Settings(tracing=mode, otlp_endpoint="127.0.0.1:4317")  # type: ignore[arg-type]
    made = tracing.exporter(settings)
    try:
        assert type(made).__name__ == exporter
    finally:
        made.shutdown()


def test_tracing_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONALIZATION_TRACING", "otlp")
    monkeypatch.setenv("PERSONALIZATION_OTLP_ENDPOINT", "127.0.0.1:4317")
    monkeypatch.setenv("PERSONALIZATION_TRACING_SAMPLE_RATIO", "0.25")
    settings = Settings()
    assert (settings.tracing, settings.otlp_endpoint) == ("otlp", "127.0.0.1:4317")
    assert (
        settings.tracing_sample_ratio == 0.25 and Settings.model_fields["tracing"].default == "off"
    )
    for bad in ({"tracing": "jaeger"}, {"tracing_sample_ratio": 1.5}):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]
