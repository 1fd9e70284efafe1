"""OpenTelemetry spans for the engine, without the engine knowing OpenTelemetry.

The engine wraps its steps in ``with tracing.span("feature_read"):``. While tracing is
off (the default) :func:`span` returns one shared no-op context manager: no span, no
OpenTelemetry import, one module-level check per step. :func:`configure` (called by
``server.app.create_server`` when ``settings.tracing`` is not ``off``) builds a
``TracerProvider`` with the settings' exporter and installs it here; the transport puts
opentelemetry-instrumentation-grpc's server interceptor, on the same provider, in front
of the interceptor chain, so the engine's spans are children of the RPC's server span
(the context travels in a contextvar of the handler thread).

Micro-batching (``micro_batch_max``): the engine's spans of a batch belong to the RPC
whose thread led it; the RPCs that joined the batch have their server span only.

The provider is process-wide and kept once installed: a second server in the process
shares it, and a provider installed before (:func:`install`, e.g. a test's in-memory
exporter or an application embedding the server) is used as it is.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from server.settings import Settings

if TYPE_CHECKING:  # the engine imports this module: no OpenTelemetry import when off
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

INSTRUMENTATION = "server.engine"
_NOOP: AbstractContextManager[None] = nullcontext()
_tracer: Any = None  # opentelemetry.trace.Tracer once installed; None: tracing off
_provider: TracerProvider | None = None


def span(name: str, **attributes: str | int | float) -> AbstractContextManager[Any]:
    """A child span of the current one named ``name`` (a shared no-op when off)."""
    if _tracer is None:
        return _NOOP
    return _tracer.start_as_current_span(name, attributes=attributes or None)


def enabled() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


def provider() -> TracerProvider | None:
    """The installed provider (None while tracing is off)."""
    return _provider


def install(tracer_provider: TracerProvider) -> None:
    """Make spans on ``tracer_provider`` from now on."""
    global _tracer, _provider
    _provider = tracer_provider
    _tracer = tracer_provider.get_tracer(INSTRUMENTATION)


def uninstall() -> None:
    """Tracing off again (spans already started end normally); flushes the provider."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def configure(settings: Settings) -> TracerProvider | None:
    """The provider ``settings.tracing`` asks for, installed; None when it is ``off``.

    An installed provider is kept (see the module docstring).
    """
    if settings.tracing == "off":
        return None
    if _provider is not None:
        return _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    made = TracerProvider(
        resource=Resource.create({"service.name": settings.tracing_service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
    )
    # Batched: the request thread only queues the ended span, a worker thread exports.
    made.add_span_processor(BatchSpanProcessor(exporter(settings)))
    install(made)
    log.info(
        "tracing on",
        extra={"tracing": settings.tracing, "sample_ratio": settings.tracing_sample_ratio},
    )
    return made


def exporter(settings: Settings) -> SpanExporter:
    """The span exporter of ``settings.tracing`` (not ``off``)."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

    if settings.tracing == "console":
        return ConsoleSpanExporter()
    if settings.tracing == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=settings.otlp_insecure)

    class Discard(SpanExporter):
        """Receives every batch and drops it: tracing's cost without an exporter's."""

        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    return Discard()
