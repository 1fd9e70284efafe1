"""Drain the Redis log streams into parquet parts (``python -m training drain-log``).

At-least-once: entries are read with a consumer group (XREADGROUP), written as parquet
parts under ``<log_dir>/<kind>/date=YYYY-MM-DD/`` (the embedded sink's layout, rows of
:func:`modelio.logrecords.table`) atomically and durably, and only then XACKed. An entry
that cannot be read back goes to ``<prefix>:<kind>:dead`` (its fields plus
``dead_id`` and ``dead_reason``) and is acked: never dropped silently.

Idempotent re-drain: a part is named by the entry-id range of its batch
(``stream-<first>_<last>.parquet``). A crash between write and ack leaves the entries
pending; the next run reads its own pending entries first (and claims entries idle
longer than ``claim_idle_s`` from crashed consumers), so the same rows are written again
— into the same part when the batch is the same, else into a second part whose rows
the feedback join drops as duplicates by ``decision_id``. Nothing is lost either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelio.logrecords import table
from training.feedback.parts import write_atomic
from training.feedback.streams import (
    PARTITION_COLUMN,
    dead_stream_name,
    parse_entry,
    stream_name,
    text,
)

BeforeAck = Callable[[list[Path]], None]


@dataclass
class DrainStats:
    """What one kind's drain did."""

    read: int = 0
    rows: int = 0
    dead: int = 0
    parts: list[Path] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "rows": self.rows, "dead": self.dead, "parts": len(self.parts)}


def ensure_group(client: Any, stream: str, group: str) -> None:
    """Create the consumer group at the start of the stream unless it exists."""
    import redis

    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _part_name(ids: Sequence[str]) -> str:
    return f"stream-{ids[0]}_{ids[-1]}.parquet"


def write_batch(
    client: Any, prefix: str, kind: str, entries: Sequence[tuple[Any, Any]], log_dir: Path
) -> tuple[list[Path], int, int]:
    """Write one batch's rows as parts (one per day) and its malformed entries to the
    dead stream; return (parts, rows, dead). Nothing is acked here."""
    ids = [text(entry_id) for entry_id, _ in entries]
    by_day: dict[str, list[dict[str, Any]]] = {}
    dead = 0
    for entry_id, fields in zip(ids, (f for _, f in entries), strict=True):
        if fields is None:  # deleted (forget, retention) while pending: nothing to keep
            continue
        row, reason = parse_entry(kind, fields)
        if row is None:
            payload = {**(fields or {}), "dead_id": entry_id, "dead_reason": reason}
            client.xadd(dead_stream_name(prefix, kind), payload)
            dead += 1
            continue
        by_day.setdefault(f"{row[PARTITION_COLUMN[kind]]:%Y-%m-%d}", []).append(row)
    parts = [
        write_atomic(table(kind, rows), log_dir / kind / f"date={day}" / _part_name(ids))
        for day, rows in sorted(by_day.items())
    ]
    return parts, sum(len(r) for r in by_day.values()), dead


def drain_kind(
    client: Any,
    prefix: str,
    kind: str,
    log_dir: Path,
    group: str,
    consumer: str,
    batch: int = 1000,
    claim_idle_s: float = 60.0,
    before_ack: BeforeAck | None = None,
) -> DrainStats:
    """Drain ``<prefix>:<kind>`` until it has nothing new; see the module doc."""
    stream, stats = stream_name(prefix, kind), DrainStats()
    ensure_group(client, stream, group)
    start: Any = "0-0"
    while True:  # take over entries a crashed consumer left pending
        start = client.xautoclaim(
            stream, group, consumer, int(claim_idle_s * 1000), start, count=batch
        )[0]  # (redis-py mis-parses JUSTID replies, so the entries come along)
        if text(start) == "0-0":
            break
    cursor = "0"  # first our own pending entries, then new ones (">")
    while True:
        reply = client.xreadgroup(group, consumer, {stream: cursor}, count=batch)
        entries = reply[0][1] if reply else []
        if not entries:
            if cursor == ">":
                return stats
            cursor = ">"
            continue
        parts, rows, dead = write_batch(client, prefix, kind, entries, log_dir)
        if before_ack is not None:
            before_ack(parts)
        client.xack(stream, group, *[entry_id for entry_id, _ in entries])
        stats.read += len(entries)
        stats.rows, stats.dead = stats.rows + rows, stats.dead + dead
        stats.parts.extend(parts)
        if cursor != ">":
            cursor = text(entries[-1][0])
