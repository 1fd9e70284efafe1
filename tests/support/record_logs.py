"""In-memory RecordLog doubles for tests of the decision and outcome logs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from server.errors import RecordLogFullError
from server.logs.base import Row


@dataclass
class MemoryLog:
    """Keeps every submitted row, per kind; ``full=True`` refuses like refuse mode."""

    full: bool = False
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    submits: int = 0
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def submit(self, kind: str, rows: Sequence[Row]) -> None:
        if self.full:
            raise RecordLogFullError(f"{kind} log full")
        with self._lock:
            self.submits += 1
            self.rows.setdefault(kind, []).extend(dict(r) for r in rows)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.rows.get(kind, []))
