"""The offline side: applied events' rows, written in batches through Feast's push, on a
thread of their own so the online path never waits for a parquet rewrite.

Each applied event yields one full row of its view (the values after the event, at the
event's time), so a point-in-time training set built later sees what the online store
served then. Rows are buffered and handed to the writer thread every
``events_offline_flush_s`` or ``events_offline_batch`` rows; it pushes them per view with
``PushMode.OFFLINE`` and reports their stream entry ids back, which the consumer then
acknowledges. Feast's file offline store rewrites the whole parquet file on each push,
hence batches; an exclusive file lock next to the repository keeps two consumer
processes on one host from losing each other's rows. A redelivered event yields its row
again (identical: same time, same values), which a point-in-time join reads as one.
"""

from __future__ import annotations

import fcntl
import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd

from server.events import metrics
from server.events.apply import Applied

log = logging.getLogger("server.events")
Batch = tuple[dict[str, list[dict[str, Any]]], dict[str, str], list[bytes]]
_RETRY_S = 1.0


class OfflineWriter:
    """Buffers rows per view; a writer thread pushes them to Feast's offline store."""

    def __init__(self, store: Any, lock_path: Path, flush_s: float, batch: int) -> None:
        self._store = store
        self._lock_path = lock_path
        self._flush_s = flush_s
        self._batch = batch
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._push_source: dict[str, str] = {}
        self._ids: list[bytes] = []
        self._oldest: float | None = None
        # Two batches in flight at most: a slow offline store slows the consumer down
        # instead of growing memory without bound.
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._written: queue.SimpleQueue[list[bytes]] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="events-offline", daemon=True)
        self._thread.start()
        self.written = 0

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, applied: Applied, entry_id: bytes) -> None:
        view = applied.view
        if view.push_source is None:
            raise ValueError(f"{view.name} has no push source: it cannot be written offline")
        at = applied.event.occurred_at.astimezone(UTC)
        row = {"customer_id": applied.event.customer_id, **applied.values}
        row["event_timestamp"] = at
        row["created_timestamp"] = at
        self._rows.setdefault(view.name, []).append(row)
        self._push_source[view.name] = view.push_source
        self._ids.append(entry_id)
        if self._oldest is None:
            self._oldest = time.monotonic()

    def due(self) -> bool:
        """True when the buffer is old or large enough to be written."""
        if self._oldest is None:
            return False
        return len(self) >= self._batch or time.monotonic() - self._oldest >= self._flush_s

    def submit(self) -> None:
        """Hand the buffer to the writer thread (waits while two batches are queued)."""
        if self._ids:
            self._queue.put((self._rows, dict(self._push_source), self._ids))
            self._rows, self._ids, self._oldest = {}, [], None

    def written_ids(self) -> list[bytes]:
        """Entry ids whose rows were written since the last call."""
        out: list[bytes] = []
        while True:
            try:
                out += self._written.get_nowait()
            except queue.Empty:
                return out

    def close(self, timeout_s: float = 60.0) -> None:
        """Write what is buffered and stop the thread (a failing store gives up after
        ``timeout_s``: those entries stay pending and are delivered again)."""
        self.submit()
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._closing.set()
        self._thread.join(_RETRY_S * 2)

    def _work(self) -> None:
        while (batch := self._queue.get()) is not None:
            rows, sources, ids = batch
            while True:
                try:
                    self._push(rows, sources)
                    break
                except Exception as exc:  # Feast or pyarrow: keep the batch, try again
                    log.error("events: offline write failed, retrying: %r", exc)
                    if self._closing.wait(_RETRY_S):
                        return
            self._written.put(ids)

    def _push(self, rows: dict[str, list[dict[str, Any]]], sources: dict[str, str]) -> None:
        from feast.data_source import PushMode

        with self._locked():
            for name in list(rows):
                frame = pd.DataFrame(rows[name])
                self._store.push(sources[name], frame, to=PushMode.OFFLINE)
                metrics.OFFLINE_ROWS.inc(len(frame))
                self.written += len(frame)
                del rows[name]  # a retry after a partial failure pushes the rest only

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
