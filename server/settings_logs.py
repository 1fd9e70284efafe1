"""Decision-log settings of the server (a mixin of :class:`server.settings.Settings`): where
every decision and outcome is recorded, and how the log writer queues, batches and flushes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from modelio.redis_address import parse_redis_nodes


class DecisionLogSettings(BaseSettings):
    """The ``decision_log*`` fields; the env prefix and the rest of the config come from
    :class:`server.settings.Settings`."""

    # --- decision log ----------------------------------------------------------------
    decision_log: Literal["off", "file", "redis"] = Field(
        default="file",
        description="Where every decision is recorded for learning from outcomes "
        "(server.logs): 'file' writes parquet files under decision_log_dir, 'redis' "
        "appends to Redis streams (drained by a separate consumer), 'off' records nothing.",
    )
    decision_log_dir: Path = Field(
        default=Path("logs"),
        description="Folder of the 'file' decision log: <dir>/<kind>/date=YYYY-MM-DD/"
        "part-*.parquet (modelio.logrecords). Created at startup; must be writable.",
    )
    decision_log_redis: str | None = Field(
        default=None,
        repr=False,  # may hold a password
        description="Redis address(es) 'host:port[,host:port...][,password=...]' "
        "(modelio.redis_address) of the 'redis' decision "
        "log; unset reuses the online store's (redis). A cluster client is used when "
        "online_store is redis_cluster.",
    )
    decision_log_stream_prefix: str = Field(
        default="personalization",
        min_length=1,
        description="Stream keys of the 'redis' decision log: <prefix>:decisions and "
        "<prefix>:outcomes.",
    )
    decision_log_stream_maxlen: int = Field(
        default=10_000_000,
        ge=1,
        description="Approximate cap on each stream's length (XADD MAXLEN ~). Redis trims "
        "the oldest entries past it whether or not they were read, so the drain must "
        "keep up (alert on its lag).",
    )
    decision_log_queue_size: int = Field(
        default=100_000,
        ge=1,
        description="Rows the in-memory log queue holds before decision_log_when_full "
        "applies. Also the most a SIGKILL or a crash can lose (with flush_s).",
    )
    decision_log_batch_max: int = Field(
        default=5_000,
        ge=1,
        description="Most rows the log writer hands to the sink at once (one parquet file "
        "or one Redis pipeline per kind).",
    )
    decision_log_flush_s: float = Field(
        default=1.0,
        gt=0,
        description="The log writer writes what is queued at least this often; a SIGKILL "
        "loses at most the rows queued since the last write.",
    )
    decision_log_when_full: Literal["drop", "refuse"] = Field(
        default="drop",
        description="When the log queue is full: 'drop' answers anyway and counts the rows "
        "as dropped (metric and warning); 'refuse' fails the RPC UNAVAILABLE so no "
        "decision is returned without its record.",
    )
    decision_log_close_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="At shutdown (after the RPCs drained), how long the log writer may take "
        "to write what is still queued; rows left after that are counted as failed.",
    )

    @field_validator("decision_log_redis")
    @classmethod
    def _check_log_redis(cls, value: str | None) -> str | None:
        if value is not None:
            parse_redis_nodes(value)
        return value
