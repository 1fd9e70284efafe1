"""A :class:`~server.logs.base.RecordLog` that queues rows in memory and writes them
in batches from one writer thread, so the request path never waits for a disk or Redis.

Accounting: every row handed to :meth:`QueuedRecordLog.submit` ends up in exactly one
``personalization_log_records_total{kind, result}`` bucket: ``logged`` (the sink stored
it), ``dropped`` (the queue was full in drop mode, or the log was closed) or ``failed``
(the sink kept failing, or shutdown ran out of time). In refuse mode a full queue raises
:class:`~server.errors.RecordLogFullError` instead, and the caller does not acknowledge
the decision, so those rows need no bucket.

Durability: rows reach the sink at most ``flush_s`` (plus one write) after they were
queued, so a SIGKILL loses at most that much; :meth:`close` writes everything first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from functools import partial
from typing import Literal

from server import metrics
from server.errors import RecordLogFullError
from server.logs.base import ArrowRows, Parts, Row, Sink
from server.logs.full import FullReporter

log = logging.getLogger(__name__)

WhenFull = Literal["drop", "refuse"]


class QueuedRecordLog:
    """Bounded in-memory queue + one writer thread handing batches to a :class:`Sink`.

    ``submit`` never does I/O and never blocks on the writer (it only takes a lock
    the writer holds for list operations). The writer writes when ``batch_max`` rows
    are queued, when a :meth:`flush` asks, and at least every ``flush_s`` seconds.
    A failed write is retried ``retries`` times with doubling backoff, then its rows are
    counted as failed and logged as an error.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        queue_size: int = 100_000,
        batch_max: int = 5_000,
        flush_s: float = 1.0,
        when_full: WhenFull = "drop",
        retries: int = 3,
        retry_backoff_s: float = 0.1,
        warn_interval_s: float = 10.0,
    ) -> None:
        if queue_size < 1 or batch_max < 1 or flush_s <= 0 or retries < 0:
            raise ValueError("queue_size and batch_max must be >= 1, flush_s > 0, retries >= 0")
        self._sink = sink
        self._queue_size, self._batch_max, self._flush_s = queue_size, batch_max, flush_s
        self._when_full: WhenFull = when_full
        self._retries, self._backoff_s = retries, retry_backoff_s
        self._full = FullReporter(warn_interval_s)
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, Sequence[Row]]] = deque()
        self._depth: Counter[str] = Counter()  # rows queued per kind
        self._queued = 0  # rows queued, all kinds
        # Row marks, counted since start: accepted by submit, taken by the writer, and
        # taken AND written or counted failed. flush() waits for done >= its mark.
        self._submitted = self._taken = self._done = 0
        self._flush_wanted = 0  # highest mark a flush() waits for
        self._closing = False
        self._closed = False
        # Daemon: a sink wedged past close()'s timeout must not keep the process alive.
        self._thread = threading.Thread(target=self._run, name="record-log-writer", daemon=True)
        self._thread.start()

    # --- RecordLog -------------------------------------------------------------------

    def submit(self, kind: str, rows: Sequence[Row]) -> None:
        """Queue ``rows`` (all or none); see the class docstring for a full queue."""
        n = len(rows)
        if not n:
            return
        with self._cond:
            if self._closing:
                result = "dropped"
            elif self._queued + n > self._queue_size:
                if self._when_full == "refuse":
                    self._full.add("refused", kind, n)
                    raise RecordLogFullError()
                result = "dropped"
            else:
                # Columnar rows stay as they are (built on the writer thread); plain
                # rows are copied so the caller may reuse its list.
                self._queue.append((kind, rows if isinstance(rows, ArrowRows) else list(rows)))
                self._queued += n
                self._submitted += n
                if kind not in self._depth:
                    metrics.log_queue_depth(kind, partial(self._depth.__getitem__, kind))
                self._depth[kind] += n
                if self._queued >= self._batch_max:
                    self._cond.notify_all()
                return
        metrics.log_records(kind, result, n)
        self._full.add(result, kind, n)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted before this call is written (or counted failed)."""
        with self._cond:
            mark = self._submitted
            if self._done >= mark:
                return True
            self._flush_wanted = max(self._flush_wanted, mark)
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._done >= mark, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, stop the writer and close the sink. Rows still queued
        after ``timeout`` are counted as failed (the process is about to exit)."""
        with self._cond:
            if self._closed:
                return
            self._closed = self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._cond:
                left = Counter[str]()
                while self._queue:
                    kind, rows = self._queue.popleft()
                    left[kind] += len(rows)
                self._queued = 0
            for kind, count in left.items():
                metrics.log_records(kind, "failed", count)
            log.error(
                "record log writer did not finish in time; queued rows counted as failed",
                extra={"timeout_s": timeout, "rows": dict(left)},
            )
        else:
            self._sink.close()
        self._full.report()

    # --- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        due = time.monotonic() + self._flush_s
        while True:
            with self._cond:
                while not self._should_write(due):
                    if self._closing and not self._queue:
                        return
                    now = time.monotonic()
                    if now >= due:  # nothing was queued this period: start the next one
                        due = now + self._flush_s
                    self._cond.wait(due - now if due > now else self._flush_s)
                if time.monotonic() >= due:
                    due = time.monotonic() + self._flush_s
                batch = self._take()
            self._write(batch)

    def _should_write(self, due: float) -> bool:
        """Called with the lock held."""
        if not self._queue:
            return False
        return (
            self._closing
            or self._queued >= self._batch_max
            or self._taken < self._flush_wanted
            or time.monotonic() >= due
        )

    def _take(self) -> dict[str, list[Sequence[Row]]]:
        """About batch_max queued rows, grouped by kind in queue order (lock held).

        A plain list longer than the room left is split; a columnar part is taken
        whole (it is one engine batch, at most DecideBatch's size), so a batch may
        exceed batch_max by less than one part."""
        batch: dict[str, list[Sequence[Row]]] = {}
        taken = 0
        while self._queue and taken < self._batch_max:
            kind, rows = self._queue.popleft()
            room = self._batch_max - taken
            if len(rows) > room and not isinstance(rows, ArrowRows):
                self._queue.appendleft((kind, rows[room:]))  # the rest stays first in line
                rows = rows[:room]
            batch.setdefault(kind, []).append(rows)
            taken += len(rows)
            self._depth[kind] -= len(rows)
        self._queued -= taken
        self._taken += taken
        return batch

    def _write(self, batch: dict[str, list[Sequence[Row]]]) -> None:
        for kind, parts in batch.items():
            rows = Parts(parts)
            result = "logged" if self._write_kind(kind, rows) else "failed"
            metrics.log_records(kind, result, len(rows))
            with self._cond:
                self._done += len(rows)
                self._cond.notify_all()

    def _write_kind(self, kind: str, rows: Parts) -> bool:
        delay = self._backoff_s
        for attempt in range(self._retries + 1):
            try:
                self._sink.write(kind, rows)
                return True
            except Exception as exc:  # any sink error: retry, then count and log
                if attempt == self._retries:
                    log.error(
                        "record log write failed; rows counted as failed",
                        exc_info=exc,
                        extra={"kind": kind, "rows": len(rows), "attempts": attempt + 1},
                    )
                    return False
                log.warning(
                    "record log write failed; retrying",
                    extra={"kind": kind, "rows": len(rows), "error": repr(exc)},
                )
                time.sleep(delay)
                delay *= 2
        return False
