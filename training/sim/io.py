"""Chunked parquet writing (bounded memory) and streaming reads grouped by customer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_WRITE_OPTIONS = {"compression": "zstd"}


class TableWriters:
    """One ParquetWriter per output table, appended chunk by chunk.

    Files are written as ``<name>.parquet.tmp`` and renamed on :meth:`close`, so a
    reader never sees a half-written source (e.g. a crashed 1M-customer run).
    """

    def __init__(self, out: Path) -> None:
        self.out = out
        self._writers: dict[str, pq.ParquetWriter] = {}

    def path(self, name: str) -> Path:
        """Final path of table ``name`` (``truth/x`` goes to the truth folder)."""
        return self.out / f"{name}.parquet"

    def write(self, name: str, table: pa.Table) -> None:
        """Append ``table`` to ``name`` (its schema is fixed by the first write)."""
        writer = self._writers.get(name)
        if writer is None:
            final = self.path(name)
            final.parent.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(str(final) + ".tmp", table.schema, **_WRITE_OPTIONS)
            self._writers[name] = writer
        writer.write_table(table)

    def close(self) -> list[Path]:
        """Finish every file and move it into place; returns the final paths."""
        done = []
        for name, writer in self._writers.items():
            writer.close()
            final = self.path(name)
            os.replace(str(final) + ".tmp", final)
            done.append(final)
        self._writers.clear()
        return done

    def abort(self) -> None:
        """Drop unfinished files (after an error)."""
        for name, writer in self._writers.items():
            writer.close()
            Path(str(self.path(name)) + ".tmp").unlink(missing_ok=True)
        self._writers.clear()


class CustomerStream:
    """Read a parquet file sorted by customer_id in pieces: all rows up to an id.

    Used to derive sources chunk by chunk without loading a 1M-customer table.
    """

    def __init__(self, path: Path, columns: list[str], batch_rows: int = 1 << 20) -> None:
        file = pq.ParquetFile(path)
        self._schema = pa.schema([file.schema_arrow.field(c) for c in columns])
        self._batches: Iterator[pa.RecordBatch] = file.iter_batches(
            batch_size=batch_rows, columns=columns
        )
        self._buffer = self._schema.empty_table()
        self._last: str | None = None
        self._done = False

    def _pull(self) -> None:
        batch = next(self._batches, None)
        if batch is None:
            self._done = True
            return
        ids = batch.column("customer_id")
        if len(ids) == 0:
            return
        unsorted = len(ids) > 1 and pc.any(pc.less(ids[1:], ids[:-1])).as_py()
        if unsorted or (self._last is not None and ids[0].as_py() < self._last):
            raise ValueError("rows must be sorted by customer_id; sort the file first")
        self._last = ids[-1].as_py()
        self._buffer = pa.concat_tables([self._buffer, pa.Table.from_batches([batch])])

    def take_until(self, last_id: str) -> pa.Table:
        """All remaining rows with customer_id <= ``last_id``."""
        while not self._done and (self._last is None or self._last <= last_id):
            self._pull()
        mask = pc.less_equal(self._buffer["customer_id"], last_id)
        out = self._buffer.filter(mask)
        self._buffer = self._buffer.filter(pc.invert(mask))
        return out
