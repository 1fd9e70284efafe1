"""What the engine and the outcome service need from a record log.

``submit`` never blocks on I/O: an implementation queues the rows and writes them in
batches on its own thread. When it cannot take them, it either counts them as dropped
(metric and log line) or raises :class:`~server.errors.RecordLogFullError`, as the
``decision_log_when_full`` setting says. Either way no row is lost silently.

Rows are any ``Sequence`` of mappings keyed by ``modelio.logrecords`` column names. A
caller on the request path may instead hand over :class:`ArrowRows`: the rows held as
columns (references to what it already computed), turned into an Arrow table only on
the writer thread. Both are sequences of rows, so every sink and test double reads
them the same way; :func:`to_table` takes the columnar fast path where there is one.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, overload

import pyarrow as pa

from modelio.logrecords import table

Row = Mapping[str, Any]


class ArrowRows(Sequence[Row]):
    """Rows kept as columns until someone reads them; built once, then cached.

    Subclasses implement ``__len__`` and :meth:`build`. Reading rows one by one (tests,
    the stream sink) goes through ``arrow().to_pylist()``, so it sees exactly what the
    parquet sink writes."""

    _table: pa.Table | None = None
    _rows: list[dict[str, Any]] | None = None

    @abstractmethod
    def build(self) -> pa.Table:
        """The rows as a table of their kind's schema (called at most once)."""

    @classmethod
    def merged(cls, parts: Sequence[ArrowRows]) -> pa.Table:
        """Leaves of this class as one table; override to convert them in one go."""
        return pa.concat_tables(p.arrow() for p in parts)

    def leaves(self) -> Sequence[ArrowRows]:
        """The parts :meth:`merged` combines (self, unless this groups other rows)."""
        return (self,)

    def arrow(self) -> pa.Table:
        """The rows as an Arrow table (built on first use)."""
        if self._table is None:
            self._table = self.build()
        return self._table

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        return self._dicts()[index]

    def __iter__(self) -> Iterator[Row]:
        return iter(self._dicts())

    def _dicts(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = self.arrow().to_pylist()
        return self._rows


class Parts(Sequence[Row]):
    """Several submitted batches of one kind as one sequence (what a sink is handed)."""

    def __init__(self, parts: Sequence[Sequence[Row]]) -> None:
        self.parts = parts
        self._len = sum(len(p) for p in parts)
        self._flat: list[Row] | None = None

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        if self._flat is None:
            self._flat = [row for part in self.parts for row in part]
        return self._flat[index]

    def __iter__(self) -> Iterator[Row]:
        for part in self.parts:
            yield from part


def to_table(kind: str, rows: Sequence[Row]) -> pa.Table:
    """``rows`` of ``kind`` as an Arrow table of its schema, in order. Columnar parts
    are merged by their class (one conversion per column for a whole write), plain
    dict rows converted together."""
    parts = rows.parts if isinstance(rows, Parts) else (rows,)
    tables: list[pa.Table] = []
    group: list[ArrowRows] = []  # consecutive columnar leaves of one class
    plain: list[Row] = []  # consecutive dict rows

    def close_group() -> None:
        if group:
            tables.append(type(group[0]).merged(list(group)))
            group.clear()
        if plain:
            tables.append(table(kind, list(plain)))
            plain.clear()

    for part in parts:
        if isinstance(part, ArrowRows):
            for leaf in part.leaves():
                if plain or (group and type(group[0]) is not type(leaf)):
                    close_group()
                group.append(leaf)
        else:
            if group:
                close_group()
            plain.extend(part)
    close_group()
    if not tables:
        return table(kind, [])
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


class RecordLog(Protocol):
    """A sink for rows of ``modelio.logrecords`` kinds (``decisions``, ``outcomes``)."""

    def submit(self, kind: str, rows: Sequence[Row]) -> None:
        """Queue ``rows``; raises RecordLogFullError in refuse mode when full."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything queued so far; False if ``timeout`` passed first."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the writer; later submits are counted as dropped."""
        ...


class NullLog:
    """Logs nothing (``decision_log = "off"``); every row is counted as not logged."""

    def __init__(self) -> None:
        self.discarded = 0

    def submit(self, kind: str, rows: Sequence[Row]) -> None:
        self.discarded += len(rows)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        return None


class Sink(Protocol):
    """Where a :class:`~server.logs.queue.QueuedRecordLog` writer puts each batch.

    Called from the writer thread only, one kind at a time, with :class:`Parts`.
    ``write`` stores all of ``rows`` or raises (the writer then retries the whole batch,
    so a sink that may have stored part of it before failing delivers at least once,
    never at most once).
    """

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        """Store ``rows`` of ``kind`` durably, or raise."""
        ...

    def close(self) -> None:
        """Release files or connections; called once, after the last write."""
        ...
