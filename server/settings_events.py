"""Settings of the behavioural-events consumer (``python -m server.events``), a mixin of
:class:`server.settings.Settings`: the streams, the consumer group, batching, pending-entry
recovery, deduplication and validation limits. The gRPC server ignores them."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from modelio.redis_address import parse_redis_nodes


class EventSettings(BaseSettings):
    """The ``events_*`` fields; the env prefix comes from :class:`server.settings.Settings`."""

    events_redis: str | None = Field(
        default=None,
        repr=False,  # may hold a password
        description="Redis address 'host:port[,password=...]' (modelio.redis_address) of "
        "the events stream; unset reuses the "
        "online store's (redis).",
    )
    events_stream: str = Field(
        default="personalization:events",
        min_length=1,
        description="Redis stream publishers XADD events to (one JSON event in the "
        "entry's 'event' field, modelio.events).",
    )
    events_group: str = Field(
        default="personalization-events",
        min_length=1,
        description="Consumer group reading events_stream; every consumer process of the "
        "group gets a share of the entries. Created (from the stream's start) if missing.",
    )
    events_consumer: str | None = Field(
        default=None,
        description="This process's consumer name in the group; unset: '<hostname>-<pid>'. "
        "A restarted process with the same name gets its own pending entries back at once; "
        "under another name they are claimed after events_claim_idle_ms.",
    )
    events_dead_letter_stream: str = Field(
        default="personalization:events:dead",
        min_length=1,
        description="Stream of refused events: the original entry, its id, the reason "
        "(modelio.events.REASONS) and a detail naming the field.",
    )
    events_dead_letter_maxlen: int = Field(
        default=1_000_000,
        ge=1,
        description="Approximate cap on the dead-letter stream (XADD MAXLEN ~).",
    )
    events_batch_size: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most entries read (XREADGROUP COUNT) and applied (one Lua call) at once.",
    )
    events_block_ms: int = Field(
        default=50,
        ge=1,
        description="How long one read waits for new entries; also bounds how long "
        "SIGTERM waits for the loop to notice.",
    )
    events_claim_idle_ms: int = Field(
        default=30_000,
        ge=100,
        description="Entries delivered to a consumer and not acknowledged for this long "
        "(a killed or stuck process) are claimed by another one (XAUTOCLAIM).",
    )
    events_dedup_ttl_s: int = Field(
        default=6 * 3600,
        ge=60,
        description="How long an applied event id is remembered (one Redis key per event, "
        "~150 bytes). A redelivery or a publisher's retry later than this is applied again.",
    )
    events_max_bytes: int = Field(
        default=4096,
        ge=256,
        description="Largest accepted event JSON; larger entries are dead-lettered 'oversized'.",
    )
    events_max_skew_s: float = Field(
        default=60.0,
        ge=0,
        description="Events whose occurred_at is further than this ahead of the consumer's "
        "clock are dead-lettered 'future_timestamp'.",
    )
    events_offline: bool = Field(
        default=True,
        description="Also write every applied event's updated feature row to the offline "
        "store (Feast push, PushMode.OFFLINE), in batches; entries are acknowledged only "
        "after their batch is written.",
    )
    events_offline_flush_s: float = Field(
        default=2.0,
        gt=0,
        description="Offline rows are written at least this often (and at shutdown).",
    )
    events_offline_batch: int = Field(
        default=20_000,
        ge=1,
        description="Offline rows that trigger a write before events_offline_flush_s.",
    )
    events_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Serve the consumer's Prometheus metrics on this port (/metrics, on "
        "metrics_host); 0 disables it.",
    )

    @field_validator("events_redis", mode="before")
    @classmethod
    def _check_events_redis(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            parse_redis_nodes(value)
        return value

    @model_validator(mode="after")
    def _flush_before_claim(self) -> EventSettings:
        # An entry waits for its offline batch before it is acknowledged: if it waited
        # longer than the claim timeout, a healthy consumer's entries would be stolen.
        if self.events_offline and self.events_offline_flush_s * 2000 > self.events_claim_idle_ms:
            raise ValueError("events_claim_idle_ms must exceed twice events_offline_flush_s")
        return self
