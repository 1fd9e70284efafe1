"""Atomic, durable parquet writes shared by the drain, the feedback join and retention.

A file is written to a hidden temp file in its final folder (a name that does not end
in ``.parquet``, so :func:`modelio.logrecords.read_log` never sees it), fsynced, renamed
over the target and the folder is fsynced: readers see the old file or the new one,
never a partial one, and after a crash the renamed file is on disk.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelio.durable import sync_dir


def write_atomic(table: pa.Table, path: Path) -> Path:
    """Write ``table`` to ``path`` atomically and durably (zstd); return ``path``."""
    created = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(table, sink, compression="zstd")
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, path)
        sync_dir(path.parent)
        if created:
            sync_dir(path.parent.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
