"""Remove customers' rows from every parquet table under the data folder.

A table is erased in two passes, one row group at a time (memory stays bounded by
the largest row group, whatever the file size):

1. count: read only the key column of the row groups whose min/max statistics
   could hold one of the ids; a file without matches is left untouched (byte for
   byte), which makes a repeated erasure a cheap no-op;
2. rewrite: copy every row group minus the matching rows into a temp file in the
   same folder with the same schema (pandas metadata included) and codecs, fsync
   it, rename it over the original and fsync the folder. Readers (Feast, training)
   see the old file or the new one, never a mix; a crash leaves the old file.

Tables keyed by ``customer_id`` go first. Rows of tables without that column but
holding the ``ticket_id`` or ``decision_id`` of a removed row (the ground-truth
tables ``truth/tickets.parquet`` and ``truth/decisions.parquet``) are removed
next: they describe the same customer's tickets and decisions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelio.durable import sync_dir
from training.erasure.types import Outcome

CUSTOMER_COLUMN = "customer_id"
#: Columns whose values in a removed row identify rows of other tables about the same
#: customer (tickets and decisions; ticket ids embed the customer number).
LINK_COLUMNS = ("ticket_id", "decision_id")
_VERSIONS = ("1.0", "2.4", "2.6")


def parquet_files(data_dir: Path) -> list[Path]:
    """Every ``*.parquet`` file below ``data_dir`` (partitioned datasets included)."""
    if not data_dir.exists():
        return []
    return sorted(p for p in data_dir.rglob("*.parquet") if p.is_file())


def _as_strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type):
        column = column.cast(pa.string())
    return column


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _may_hold(meta: pq.RowGroupMetaData, index: int, lo: str, hi: str) -> bool:
    """False only when the row group's statistics prove no value lies in [lo, hi]."""
    stats = meta.column(index).statistics
    if stats is None or not stats.has_min_max:
        return True
    try:
        low, high = stats.min, stats.max
        if isinstance(low, bytes):
            low, high = low.decode("utf-8"), high.decode("utf-8")
        return not (str(high) < lo or str(low) > hi)
    except (UnicodeDecodeError, TypeError, ValueError):
        return True


class _Match:
    """Which rows of a table to drop: ``column`` value in ``values``."""

    def __init__(self, column: str, values: Iterable[str]) -> None:
        self.column = column
        self.values = sorted(set(values))
        self.value_set = pa.array(self.values, type=pa.string())

    def mask(self, table: pa.Table) -> pa.ChunkedArray:
        column = _as_strings(table.column(self.column))
        return pc.fill_null(pc.is_in(column, value_set=self.value_set), False)


def _codecs(meta: pq.FileMetaData) -> str | dict[str, str]:
    if meta.num_row_groups == 0:
        return "zstd"
    group = meta.row_group(0)
    names = {}
    for i in range(group.num_columns):
        codec = group.column(i).compression.lower()
        names[group.column(i).path_in_schema] = "none" if codec == "uncompressed" else codec
    distinct = set(names.values())
    return distinct.pop() if len(distinct) == 1 else names


def _rewrite(path: Path, file: pq.ParquetFile, match: _Match, groups: set[int]) -> None:
    """Write ``path`` again without the matching rows of row groups ``groups``."""
    meta = file.metadata
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".forget.tmp")
    try:
        with os.fdopen(fd, "wb") as sink:
            writer = pq.ParquetWriter(
                sink,
                file.schema_arrow,
                compression=_codecs(meta),
                version=meta.format_version if meta.format_version in _VERSIONS else "2.6",
            )
            try:
                for i in range(meta.num_row_groups):
                    table = file.read_row_group(i)
                    if i in groups:
                        table = table.filter(pc.invert(match.mask(table)))
                    if table.num_rows:
                        writer.write_table(table, row_group_size=max(table.num_rows, 1))
            finally:
                writer.close()
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
        os.replace(tmp, path)
        sync_dir(path.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)


def erase_table(
    path: Path, match: _Match, collect: Sequence[str] = ()
) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    """Remove rows whose ``match.column`` is one of ``match.values``.

    Returns the rows removed per matched value, and for each ``collect`` column
    present, ``{value in a removed row: the matched value of that row}``. A file
    without matching rows is not rewritten.
    """
    file = pq.ParquetFile(path)
    meta = file.metadata
    collect = [c for c in collect if c in file.schema_arrow.names]
    counts: dict[str, int] = {}
    owners: dict[str, dict[str, str]] = {c: {} for c in collect}
    groups: set[int] = set()
    lo, hi = match.values[0], match.values[-1]
    leaf = next(
        (i for i in range(meta.num_columns) if meta.schema.column(i).path == match.column), None
    )
    for i in range(meta.num_row_groups):
        if leaf is not None and not _may_hold(meta.row_group(i), leaf, lo, hi):
            continue
        part = file.read_row_group(i, columns=[match.column, *collect])
        removed = part.filter(match.mask(part))
        if not removed.num_rows:
            continue
        groups.add(i)
        keys = [str(v) for v in _as_strings(removed.column(match.column)).to_pylist()]
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        for column in collect:
            values = _as_strings(removed.column(column)).to_pylist()
            for key, value in zip(keys, values, strict=True):
                if value is not None:
                    owners[column][str(value)] = key
    if groups:
        _rewrite(path, file, match, groups)
    return counts, owners


def erase_offline(
    data_dir: Path, customer_ids: Sequence[str], extra: Sequence[Path] = ()
) -> list[Outcome]:
    """Erase ``customer_ids`` from every parquet table under ``data_dir`` and ``extra``
    (more parquet files, or folders of them: exported training sets...)."""
    outcomes: list[Outcome] = []
    owners: dict[str, dict[str, str]] = {c: {} for c in LINK_COLUMNS}  # value -> customer
    by_customer = _Match(CUSTOMER_COLUMN, customer_ids)
    linked_tables: list[tuple[Outcome, Path, list[str]]] = []
    files = [(p, p.relative_to(data_dir).as_posix()) for p in parquet_files(data_dir)]
    for root in extra:
        if root.is_dir():
            files.extend((p, str(p)) for p in parquet_files(root))
        elif root.is_file():
            files.append((root, str(root)))
        else:
            outcomes.append(Outcome("offline", str(root), "rows", note="no such file"))
    for path, place in dict(files).items():
        out = Outcome("offline", place, "rows")
        outcomes.append(out)
        try:
            schema = pq.read_schema(path)
            if CUSTOMER_COLUMN not in schema.names:
                links = [c for c in LINK_COLUMNS if c in schema.names]
                if links:
                    linked_tables.append((out, path, links))
                else:
                    out.note = f"no {CUSTOMER_COLUMN} column"
                continue
            if not _is_text(schema.field(CUSTOMER_COLUMN).type):
                out.error = f"{CUSTOMER_COLUMN} is {schema.field(CUSTOMER_COLUMN).type}, not text"
                continue
            counts, found = erase_table(path, by_customer, LINK_COLUMNS)
            out.removed.update(counts)
            for column, pairs in found.items():
                owners[column].update(pairs)
        except Exception as exc:  # report and go on: the other files still get erased
            out.error = f"{type(exc).__name__}: {exc}"
    # Tables without customer_id: rows about the removed rows' tickets and decisions.
    for out, path, links in linked_tables:
        out.note = f"by {', '.join(links)}"
        try:
            for column in links:
                if not owners[column]:
                    continue
                if not _is_text(pq.read_schema(path).field(column).type):
                    out.error = f"{column} is not text"
                    break
                counts, _ = erase_table(path, _Match(column, owners[column]))
                for value, n in counts.items():
                    cid = owners[column][value]
                    out.removed[cid] = out.removed.get(cid, 0) + n
        except Exception as exc:
            out.error = f"{type(exc).__name__}: {exc}"
    return outcomes
