"""Log retention: whole ``date=YYYY-MM-DD`` partitions older than N days, and the streams.

With ``days=N`` and today's UTC date D, partitions dated before ``D - N`` are deleted
(so N days of history plus today are kept); the Redis streams (decisions, outcomes and
their dead-letter streams) are trimmed with ``XTRIM MINID`` at the start of that first
kept day. Stream ids are the time Redis received an entry, which is within moments of
the row's own timestamp. Folders that are not day partitions are never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from modelio.durable import sync_dir
from modelio.logrecords import SCHEMAS
from training.feedback.streams import KINDS, dead_stream_name, stream_name

_PREFIX = "date="


@dataclass(frozen=True)
class Partition:
    path: Path
    day: date
    files: int
    bytes: int


def cutoff_day(days: int, now: datetime) -> date:
    """The first day kept."""
    return now.astimezone(UTC).date() - timedelta(days=days)


def partitions(log_dir: Path) -> list[Partition]:
    """Every day partition of the decision and outcome logs."""
    found = []
    for kind in SCHEMAS:
        folder = log_dir / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not (path.is_dir() and path.name.startswith(_PREFIX)):
                continue
            try:
                day = date.fromisoformat(path.name[len(_PREFIX) :])
            except ValueError:
                continue  # not ours: leave it alone
            files = [f for f in path.rglob("*") if f.is_file()]
            found.append(Partition(path, day, len(files), sum(f.stat().st_size for f in files)))
    return found


def delete_old(log_dir: Path, days: int, now: datetime, dry_run: bool = False) -> list[Partition]:
    """Delete (unless ``dry_run``) the partitions dated before :func:`cutoff_day`."""
    first_kept = cutoff_day(days, now)
    old = [p for p in partitions(log_dir) if p.day < first_kept]
    if not dry_run:
        for part in old:
            shutil.rmtree(part.path)
        for parent in {p.path.parent for p in old}:
            sync_dir(parent)
    return old


def trim_streams(client: Any, prefix: str, days: int, now: datetime) -> dict[str, int]:
    """XTRIM MINID every log stream at the start of the first kept day; entries removed."""
    start = datetime.combine(cutoff_day(days, now), time(), tzinfo=UTC)
    min_id = f"{int(start.timestamp() * 1000)}-0"
    removed = {}
    for kind in KINDS:
        for stream in (stream_name(prefix, kind), dead_stream_name(prefix, kind)):
            removed[stream] = int(client.xtrim(stream, minid=min_id, approximate=False))
    return removed
