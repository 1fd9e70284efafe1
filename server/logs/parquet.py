"""The embedded default sink: one parquet file per kind per written batch.

Layout (``modelio.logrecords``, shared with training's feedback join)::

    <log_dir>/<kind>/date=YYYY-MM-DD/part-<UTC time>-<seq>-<pid>.parquet

Day partitions are hive style, so retention deletes whole ``date=`` folders and readers
can prune by day. The day is the UTC day the batch was written (at most one flush
interval after its rows were decided), so a row decided just before midnight may sit
in the next day's folder; filter on ``ts`` for exact ranges. The pid in the name keeps
the files of several worker processes sharing one folder apart.

Columns that are unique per row (ids, the features JSON) are written without a
dictionary, and only the columns readers filter on (times; customer and decision ids,
which erasure prunes row groups by) carry statistics: a third less of the writer's time
per row, for files 1-2 % larger (docs/learning-loop.md).

Each file is written to a hidden temp name (``.part-*.tmp``, which ``read_log``'s
``*.parquet`` glob skips), fsync'd, renamed into place and the folder fsync'd: a crash
leaves either the whole file or none of it, never half a file.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from server.errors import RecordLogConfigError
from server.logs.base import Row, to_table

#: Columns unique (or nearly) per row: a dictionary of them only costs the writer time.
_UNIQUE = frozenset({"decision_id", "request_id", "customer_id", "conversation_id", "features"})
#: Columns readers filter on (by time; erasure by customer and decision id): the only
#: ones given min/max statistics.
_FILTERED = frozenset({"ts", "event_time", "received_at", "customer_id", "decision_id"})


class ParquetSink:
    """Writes batches as parquet files under ``log_dir`` (see the module docstring)."""

    def __init__(self, log_dir: Path, clock: Callable[[], datetime] | None = None) -> None:
        """Creates ``log_dir`` and checks it is writable, so a bad path fails at startup."""
        self.log_dir = log_dir
        self._clock = clock or (lambda: datetime.now(UTC))
        self._seq = itertools.count()
        self._pid = os.getpid()
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=log_dir):
                pass
        except OSError as exc:
            raise RecordLogConfigError(
                f"decision_log_dir {log_dir} is not a writable folder: {exc}"
            ) from exc

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        """One file holding ``rows``, atomically; raises OSError/ArrowInvalid on failure."""
        data = to_table(kind, rows)  # exactly the shared schema, or it raises
        now = self._clock()
        folder = self.log_dir / kind / f"date={now:%Y-%m-%d}"
        if not folder.is_dir():  # a new day: make the folder's own entry durable too
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_dir(folder.parent)
        name = f"part-{now:%Y%m%dT%H%M%S%fZ}-{next(self._seq):06d}-{self._pid}.parquet"
        final = folder / name
        temp = folder / f".{name}.tmp"
        try:
            with temp.open("wb") as out:
                pq.write_table(
                    data,
                    out,
                    use_dictionary=[c for c in data.column_names if c not in _UNIQUE],
                    write_statistics=[c for c in data.column_names if c in _FILTERED],
                )
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(folder)  # makes the rename itself survive a power cut

    def close(self) -> None:
        """Nothing is held open between writes."""
        return None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
