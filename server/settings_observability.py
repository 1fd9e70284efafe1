"""Tracing settings of the server (a mixin of :class:`server.settings.Settings`): whether
OpenTelemetry spans are made and where they go (server.tracing, docs/observability.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

TracingMode = Literal["off", "console", "otlp", "discard"]


class ObservabilitySettings(BaseSettings):
    """The ``tracing*`` and ``otlp*`` fields; the env prefix and the rest of the config come
    from :class:`server.settings.Settings`. The Prometheus endpoint (``metrics_port``) is
    there too."""

    # --- tracing ---------------------------------------------------------------------
    tracing: TracingMode = Field(
        default="off",
        description="OpenTelemetry traces: a server span per RPC with child spans for the "
        "feature read, the models and the policy. 'otlp' exports them over OTLP/gRPC to "
        "otlp_endpoint, 'console' prints them as JSON on stdout, 'discard' makes and "
        "batches them but drops them (what the bench measures), 'off' makes none and "
        "adds nothing to the request path.",
    )
    otlp_endpoint: str = Field(
        default="localhost:4317",
        min_length=1,
        description="host:port (or URL) of the OTLP/gRPC collector the 'otlp' tracing "
        "mode exports to.",
    )
    otlp_insecure: bool = Field(
        default=True,
        description="Talk to otlp_endpoint without TLS (a collector beside the server, "
        "e.g. a sidecar); False uses TLS with the system's root certificates.",
    )
    tracing_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of traces started here that are recorded (a caller's sampled "
        "trace context is always followed). Lower it when tracing every call costs too "
        "much (docs/observability.md has the measured cost).",
    )
    tracing_service_name: str = Field(
        default="chatbot-personalization",
        min_length=1,
        description="The service.name resource attribute of the exported spans.",
    )
