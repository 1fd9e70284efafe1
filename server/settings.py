"""Server configuration: one immutable object, read from ``PERSONALIZATION_*`` variables.

``Settings()`` is built once in ``server.__main__`` (command-line flags override the
environment) and passed down explicitly; nothing reads the environment elsewhere.
Example: ``PERSONALIZATION_PORT=6000 PERSONALIZATION_ONLINE_STORE=redis python -m server``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
OnlineStore = Literal["sqlite", "redis", "redis_cluster"]


class Settings(BaseSettings):
    """All server settings; each one is the env var ``PERSONALIZATION_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PERSONALIZATION_", frozen=True, extra="ignore")

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
    online_store: OnlineStore = Field(
        default="sqlite",
        description="Feast online store: 'sqlite' (local file, dev), 'redis' (one "
        "server) or 'redis_cluster'.",
    )
    redis: str = Field(
        default="127.0.0.1:6379",
        description="Redis address(es) as 'host:port[,host:port...]'; used only when "
        "online_store is redis or redis_cluster.",
    )
    feature_repo: Path = Field(
        default=Path("feature_repo"), description="Feast feature repository (feature_store.yaml)."
    )
    models_dir: Path = Field(
        default=Path("models"), description="Directory of trained model bundles and manifests."
    )
    feature_budget_ms: float = Field(
        default=20.0,
        gt=0,
        description="Time the engine may spend reading online features for one request "
        "before it answers degraded with default features.",
    )

    # --- logging ---------------------------------------------------------------------
    log_level: LogLevel = Field(default="INFO", description="Root log level.")
    log_json: bool = Field(
        default=True,
        description="One JSON object per log line (for log shippers); else plain text.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("redis")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        for node in value.split(","):
            host, sep, port = node.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], got {node.strip()!r}")
        return value

    def redis_nodes(self) -> list[tuple[str, int]]:
        """``redis`` parsed into ``[(host, port), ...]``."""
        nodes = []
        for node in self.redis.split(","):
            host, _, port = node.strip().rpartition(":")
            nodes.append((host, int(port)))
        return nodes

    @property
    def address(self) -> str:
        """``host:port`` to bind."""
        return f"{self.host}:{self.port}"
