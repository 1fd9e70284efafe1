"""What the engine and the outcome service need from a record log.

``submit`` never blocks on I/O: an implementation queues the rows and writes them in
batches on its own thread. When it cannot take them, it either counts them as dropped
(metric and log line) or raises :class:`~server.errors.RecordLogFullError`, as the
``decision_log_when_full`` setting says. Either way no row is lost silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Row = Mapping[str, Any]


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

    Called from the writer thread only, one kind at a time. ``write`` stores all of
    ``rows`` or raises (the writer then retries the whole batch, so a sink that may
    have stored part of it before failing delivers at least once, never at most once).
    """

    def write(self, kind: str, rows: Sequence[Row]) -> None:
        """Store ``rows`` of ``kind`` durably, or raise."""
        ...

    def close(self) -> None:
        """Release files or connections; called once, after the last write."""
        ...
