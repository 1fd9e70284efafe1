"""Build the decision log the settings ask for (``decision_log`` and friends).

``off`` gives a :class:`~server.logs.base.NullLog`; ``file`` a queue in front of a
:class:`~server.logs.parquet.ParquetSink`; ``redis`` a queue in front of a
:class:`~server.logs.stream.RedisStreamSink` on ``decision_log_redis`` (default: the
online store's address). A folder that cannot be written, or a Redis address the sink's
client refuses (``db`` on a Redis Cluster), fails here, at startup, with
:class:`~server.errors.RecordLogConfigError`.
"""

from __future__ import annotations

from server.errors import RecordLogConfigError
from server.logs.base import NullLog, RecordLog, Sink
from server.logs.parquet import ParquetSink
from server.logs.queue import QueuedRecordLog
from server.settings import Settings


def open_sink(settings: Settings) -> Sink:
    """The sink of ``settings.decision_log`` (``file`` or ``redis``)."""
    if settings.decision_log == "redis":
        from server.logs.stream import RedisStreamSink

        try:
            return RedisStreamSink(
                settings.decision_log_address,
                settings.decision_log_stream_prefix,
                settings.decision_log_stream_maxlen,
                cluster=settings.online_store == "redis_cluster",
            )
        except ValueError as exc:
            raise RecordLogConfigError(f"decision_log_redis: {exc}") from exc
    return ParquetSink(settings.decision_log_dir)


def build_record_log(settings: Settings) -> RecordLog:
    """The queued decision log of ``settings`` (a NullLog when ``decision_log`` is off)."""
    if settings.decision_log == "off":
        return NullLog()
    return QueuedRecordLog(
        open_sink(settings),
        queue_size=settings.decision_log_queue_size,
        batch_max=settings.decision_log_batch_max,
        flush_s=settings.decision_log_flush_s,
        when_full=settings.decision_log_when_full,
    )
