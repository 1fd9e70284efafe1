"""The RPC's server span: opentelemetry-instrumentation-grpc's interceptor, when tracing
is on (``server.tracing``). Health checks and reflection make no spans (probes every few
seconds would bury the calls that matter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from server.settings import Settings
from server.tracing import configure

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


def tracing_interceptor(settings: Settings) -> grpc.ServerInterceptor | None:
    """The server-span interceptor for ``settings.tracing``; None when tracing is off
    (nothing of OpenTelemetry is imported then)."""
    provider = configure(settings)
    return None if provider is None else server_spans(provider)


def server_spans(provider: TracerProvider) -> grpc.ServerInterceptor:
    """A server span per unary RPC on ``provider`` (the caller's trace context, if it
    sent one in the metadata, is its parent). Install it outermost."""
    from opentelemetry.instrumentation.grpc import filters, server_interceptor

    skip = filters.any_of(filters.health_check(), filters.service_prefix("grpc.reflection."))
    interceptor: grpc.ServerInterceptor = server_interceptor(
        tracer_provider=provider, filter_=filters.negate(skip)
    )
    return interceptor
