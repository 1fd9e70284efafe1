"""The Redis Streams sink: each batch is one pipelined run of XADDs, one stream per kind.

Why Redis Streams and not, say, NATS JetStream: Redis is already in the production stack
(it is the online store), so this adds no new system to run, secure and monitor; and a
stream gives what the log's consumer needs, consumer groups with acknowledgements
(at-least-once delivery: a drain that dies re-reads what it had not acked).

Keys: ``<prefix>:decisions`` and ``<prefix>:outcomes``; each entry is
``modelio.logrecords.to_stream_entry(row)`` (the row as JSON under one field). Streams
are capped with ``XADD MAXLEN ~ <maxlen>``: Redis trims the oldest entries past the cap
whether or not a consumer read them, so the drain command must keep up (watch its lag).
With Redis Cluster each stream key lives on one node, which is fine at this rate.

A retried batch may have been partly appended before the failure, so a consumer can see
a row twice; it deduplicates on ``decision_id`` (the feedback join does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis

from modelio.logrecords import to_stream_entry
from modelio.redis_address import parse_redis_address
from server.logs.base import Row

#: Socket timeouts of the writer's connection: long enough for a big pipeline, short
#: enough that a dead Redis fails the write (then retried, then counted) instead of
#: hanging the writer.
TIMEOUT_S = 5.0


class _Client(Protocol):
    """What the sink needs of redis-py's single-server and cluster clients."""

    def pipeline(self, transaction: bool = ...) -> redis.client.Pipeline: ...

    def close(self) -> None: ...


def connect(address: str, cluster: bool, timeout_s: float = TIMEOUT_S) -> _Client:
    """A client for ``host:port[,host:port...][,password=...]`` (modelio.redis_address; a
    cluster client when ``cluster``)."""
    client: _Client = parse_redis_address(address).client(
        cluster, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    return client


class RedisStreamSink:
    """Appends batches to ``<stream_prefix>:<kind>`` streams (see the module docstring)."""

    def __init__(
        self,
        client: _Client | str,
        stream_prefix: str = "personalization",
        maxlen: int = 10_000_000,
        cluster: bool = False,
    ) -> None:
        """``client`` is a redis-py client or an address for :func:`connect`."""
        self._owns = isinstance(client, str)
        self._client = connect(client, cluster) if isinstance(client, str) else client
        self.prefix = stream_prefix
        self._maxlen = maxlen

    def stream(self, kind: str) -> str:
        """The stream key of ``kind``."""
        return f"{self.prefix}:{kind}"

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        """XADD every row in one pipeline (no transaction: one key, order kept)."""
        key = self.stream(kind)
        pipe = self._client.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(key, to_stream_entry(row), maxlen=self._maxlen, approximate=True)  # type: ignore[arg-type]
        pipe.execute()

    def close(self) -> None:
        """Close the connection if the sink opened it."""
        if self._owns:
            self._client.close()
