"""Server configuration: one immutable object, read from ``PERSONALIZATION_*`` variables.

``Settings()`` is built once in ``server.__main__`` (command-line flags override the
environment) and passed down explicitly; nothing reads the environment elsewhere.
Example: ``PERSONALIZATION_PORT=6000 PERSONALIZATION_ONLINE_STORE=redis python -m server``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from modelio.store import StoreSettings
from server.settings_conversation import ConversationSettings
from server.settings_events import EventSettings
from server.settings_logs import DecisionLogSettings
from server.settings_observability import ObservabilitySettings
from server.settings_security import SecuritySettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(
    ConversationSettings,
    EventSettings,
    ObservabilitySettings,
    DecisionLogSettings,
    SecuritySettings,
    StoreSettings,
):
    """All server settings; each one is the env var ``PERSONALIZATION_<NAME>``.

    The online-store switch (``online_store``, ``redis``, ``feature_repo``) is inherited
    from :class:`modelio.store.StoreSettings`, which training commands share; API keys,
    TLS and the audit log from :class:`server.settings_security.SecuritySettings`; the
    decision log from :class:`server.settings_logs.DecisionLogSettings`; tracing from
    :class:`server.settings_observability.ObservabilitySettings`; the events consumer's
    from :class:`server.settings_events.EventSettings`; conversation state from
    :class:`server.settings_conversation.ConversationSettings`. Fields are in that
    order, then this class's own (network, limits, features and models, metrics,
    logging).
    """

    # hide_input_in_errors: a validation error must not print audit_hmac_key.
    model_config = SettingsConfigDict(
        env_prefix="PERSONALIZATION_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    # --- network -------------------------------------------------------------------
    host: str = Field(
        default="[::]",
        description="Address to listen on. '[::]' means every interface (IPv6 and, on "
        "dual-stack hosts, IPv4), which a container needs; use '127.0.0.1' to keep the "
        "server private to the machine.",
    )
    port: int = Field(default=50051, ge=0, le=65535, description="TCP port; 0 picks a free port.")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes sharing the port (SO_REUSEPORT), each with its own "
        "engine. One process is GIL-bound, so use about one per core.",
    )
    thread_pool_size: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Threads per process that run RPC handlers. RPCs beyond this wait "
        "in a queue bounded by max_concurrent_rpcs.",
    )
    max_concurrent_rpcs: int = Field(
        default=256,
        ge=1,
        description="In-flight plus queued PersonalizationService RPCs per process; more "
        "are answered RESOURCE_EXHAUSTED at once instead of queueing without bound. "
        "Health and reflection RPCs are not counted.",
    )
    max_message_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        description="Largest request or response message, in bytes.",
    )
    grace_period_s: float = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM/SIGINT, seconds in-flight RPCs get to finish before they "
        "are cancelled. Keep it below the orchestrator's kill timeout.",
    )
    max_connection_age_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Close each client connection after this many seconds (plus a grace "
        "of the same length for its calls to finish; 0: never). With client-side "
        "round_robin, clients only spread over replicas when they reconnect and resolve "
        "again, so replicas added by a scale-up get traffic only after this age; "
        "docs/deploy.md suggests 300 s.",
    )
    max_metadata_bytes: int = Field(
        default=8 * 1024,
        ge=1024,
        description="Largest total request metadata (headers), in bytes. Larger calls are "
        "refused by gRPC core before any handler runs (the client sees "
        "RESOURCE_EXHAUSTED).",
    )
    readiness_poll_s: float = Field(
        default=1.0,
        gt=0,
        description="How often the health service asks the engine whether it is ready.",
    )

    # --- request limits ------------------------------------------------------------
    max_batch_size: int = Field(
        default=1000, ge=1, description="Most requests one DecideBatch call may carry."
    )
    max_customer_id_length: int = Field(
        default=128, ge=1, description="Longest accepted customer_id, in characters."
    )

    # --- features and models -------------------------------------------------------
    models_dir: Path = Field(
        default=Path("models"), description="Directory of trained model bundles and manifests."
    )
    micro_batch_max: int = Field(
        default=32,
        ge=1,
        description="Decide calls that arrive while others are being decided are decided "
        "together, up to this many: one feature read and one run per model for all of "
        "them (server.engine.batcher). An idle server never waits to fill a batch. "
        "1 decides every call on its own, in parallel threads.",
    )
    feature_budget_ms: float = Field(
        default=20.0,
        gt=0,
        description="Time the engine may spend reading online features for one request "
        "before it answers degraded with default features.",
    )
    feature_budget_per_customer_ms: float = Field(
        default=1.0,
        ge=0,
        description="Extra feature-read budget per distinct customer of a request, on "
        "top of feature_budget_ms: a DecideBatch of 1000 customers needs more than one "
        "turn (decoding is CPU-bound). Stores read on feature_read_threads only.",
    )
    feature_read_threads: int = Field(
        default=0,
        ge=0,
        description="Threads that run feature reads so a request can stop waiting after "
        "its budget; when all are busy (with reads the store is slow to answer) requests "
        "degrade at once instead of queueing. 0: twice thread_pool_size. Not used for a "
        "single Redis server, whose socket timeouts (feature_budget_ms) bound the read "
        "on the request's own thread.",
    )
    breaker_failure_threshold: int = Field(
        default=5,
        ge=1,
        description="Consecutive failed or timed-out feature reads that open the circuit "
        "breaker; while open, requests answer degraded ('circuit_open') without touching "
        "the online store.",
    )
    breaker_open_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds the breaker stays open before it lets one probe read through "
        "(half-open); a successful probe closes it, a failed one opens it again.",
    )
    feature_cache_ttl_s: float = Field(
        default=0.0,
        ge=0,
        description="Serve a customer's last successfully read features, for this many "
        "seconds after the read, when the store fails (answers are flagged degraded with "
        "'stale_features'). 0 disables the cache.",
    )
    feature_cache_size: int = Field(
        default=10_000,
        ge=1,
        description="Most customers the stale-features cache holds (least recently read "
        "ones are dropped first).",
    )

    # --- metrics ---------------------------------------------------------------------
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Serve Prometheus metrics over HTTP on this port (/metrics); 0 "
        "disables it. With workers > 1 the supervisor serves it for every worker (their "
        "metrics summed; server.workers).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the metrics endpoint listens on (loopback by default; use "
        "'0.0.0.0' to let a scraper on another host in).",
    )

    # --- logging ---------------------------------------------------------------------
    log_level: LogLevel = Field(default="INFO", description="Root log level.")
    gc_tuning: bool = Field(
        default=True,
        description="After warm-up, freeze start-up objects out of the collector and "
        "collect the young generation less often (server.gc_tuning).",
    )
    access_log: bool = Field(
        default=False,
        description="Log every successful RPC at INFO (one JSON line per call). Off by "
        "default: failed calls are always logged, successful ones at DEBUG, because at "
        "thousands of calls a second the log line costs more than the decision.",
    )
    log_json: bool = Field(
        default=True,
        description="One JSON object per log line (for log shippers); else plain text.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "api_keys_file",
        "tls_cert_file",
        "tls_key_file",
        "tls_client_ca_file",
        "audit_log_path",
        "decision_log_redis",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # PERSONALIZATION_X= (empty) must mean "unset", not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def decision_log_address(self) -> str:
        """Redis address(es) of the 'redis' decision log (the online store's by default)."""
        return self.decision_log_redis or self.redis

    @property
    def events_address(self) -> str:
        """Redis address of the events stream (the online store's by default)."""
        return self.events_redis or self.redis

    @property
    def address(self) -> str:
        """``host:port`` to bind."""
        return f"{self.host}:{self.port}"
