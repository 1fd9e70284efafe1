"""The offline side: applied events' rows, written in batches through Feast's push.

Each applied event yields one full row of its view (the values after the event, at the
event's time), so a point-in-time training set built later sees what the online store
served then. Rows are buffered and pushed with ``PushMode.OFFLINE`` per view every
``events_offline_flush_s`` or ``events_offline_batch`` rows. Feast's file offline store
rewrites the whole parquet file on each push, hence batches; an exclusive file lock next
to the repository keeps two consumer processes on one host from losing each other's rows.
A redelivered event yields its row again (identical: same time, same values), which a
point-in-time join reads as one.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd

from server.events.apply import Applied


class OfflineWriter:
    """Buffers rows per view and pushes them to Feast's offline store."""

    def __init__(self, store: Any, lock_path: Path, flush_s: float, batch: int) -> None:
        self._store = store
        self._lock_path = lock_path
        self._flush_s = flush_s
        self._batch = batch
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._push_source: dict[str, str] = {}
        self._oldest: float | None = None
        self.written = 0

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def add(self, applied: Applied) -> None:
        view = applied.view
        if view.push_source is None:
            raise ValueError(f"{view.name} has no push source: it cannot be written offline")
        at = applied.event.occurred_at.astimezone(UTC)
        row = {"customer_id": applied.event.customer_id, **applied.values}
        row["event_timestamp"] = at
        row["created_timestamp"] = at
        self._rows.setdefault(view.name, []).append(row)
        self._push_source[view.name] = view.push_source
        if self._oldest is None:
            self._oldest = time.monotonic()

    def due(self) -> bool:
        """True when the buffer is old or large enough to be written."""
        if self._oldest is None:
            return False
        return len(self) >= self._batch or time.monotonic() - self._oldest >= self._flush_s

    def flush(self) -> int:
        """Push every buffered row; return how many. Raises if Feast fails (rows kept)."""
        from feast.data_source import PushMode

        count = 0
        with self._locked():
            for name in list(self._rows):
                frame = pd.DataFrame(self._rows[name])
                self._store.push(self._push_source[name], frame, to=PushMode.OFFLINE)
                count += len(frame)
                del self._rows[name]
        self._oldest = None
        self.written += count
        return count

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
