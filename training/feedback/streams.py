"""The Redis log streams: names, connection, and reading entries back as rows.

The server appends each decision and outcome to ``<prefix>:decisions`` and
``<prefix>:outcomes`` (:func:`modelio.logrecords.to_stream_entry`); entries that cannot
be read back are moved to ``<prefix>:<kind>:dead`` with a reason by ``drain-log``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from modelio.logrecords import DECISIONS, OUTCOMES, STREAM_FIELD, from_stream_entry, table
from modelio.redis_address import parse_redis_address
from modelio.store import DEFAULT_REDIS

DEFAULT_PREFIX = "personalization"
KINDS: tuple[str, ...] = (DECISIONS, OUTCOMES)
#: The timestamp that places a row in its ``date=YYYY-MM-DD`` partition.
PARTITION_COLUMN = {DECISIONS: "ts", OUTCOMES: "received_at"}


def stream_name(prefix: str, kind: str) -> str:
    return f"{prefix}:{kind}"


def dead_stream_name(prefix: str, kind: str) -> str:
    return f"{prefix}:{kind}:dead"


def connect(address: str | None) -> Any:
    """A redis-py client for ``host:port[,...]``: a cluster client when the first node is
    in cluster mode (each stream key lives on one node, which may be any of them), else
    a client of that one server."""
    parsed = parse_redis_address(address or DEFAULT_REDIS)
    client = parsed.client(socket_timeout=30)
    info: dict[str, Any] = client.info("cluster")
    if not info.get("cluster_enabled"):
        return client
    client.close()
    return parsed.client(cluster=True, socket_timeout=30)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_entry(kind: str, fields: Mapping[Any, Any] | None) -> tuple[dict[str, Any] | None, str]:
    """The row of a stream entry, or None and why it cannot be stored."""
    if not fields:
        return None, "empty entry"
    if STREAM_FIELD not in fields and STREAM_FIELD.encode() not in fields:
        return None, f"no {STREAM_FIELD!r} field"
    try:
        row = from_stream_entry(kind, fields)
        if not isinstance(row, dict):
            return None, "row is not a JSON object"
        if not row.get("decision_id") or not isinstance(row["decision_id"], str):
            return None, "no decision_id"
        stamp = row.get(PARTITION_COLUMN[kind])
        if not isinstance(stamp, datetime):
            return None, f"no {PARTITION_COLUMN[kind]} timestamp"
        if stamp.tzinfo is None:
            row[PARTITION_COLUMN[kind]] = stamp.replace(tzinfo=UTC)
        table(kind, [row])  # the schema accepts it
    except (KeyError, ValueError, TypeError, AttributeError, pa.ArrowException) as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    return row, ""


def scan(client: Any, stream: str, count: int = 1000) -> Iterator[tuple[str, dict[Any, Any]]]:
    """Every entry of ``stream`` in id order, ``count`` at a time (XRANGE)."""
    start = "-"
    while True:
        batch = client.xrange(stream, min=start, max="+", count=count)
        if not batch:
            return
        for entry_id, fields in batch:
            yield text(entry_id), fields
        last = text(batch[-1][0])
        start = "(" + last
