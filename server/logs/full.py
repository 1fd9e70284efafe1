"""Rate-limited WARNING lines about rows a full (or closed) record-log queue did not
take, so a burst of drops is visible in the log without a line per row."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("server.logs.queue")  # where operators already look for these


class FullReporter:
    """Rate-limited WARNING lines about rows a full (or closed) queue did not take:
    the first at once, then at most one per ``interval_s`` with the counts since."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._tally: Counter[str] = Counter()  # "<result>:<kind>" -> rows since last line
        self._last = -math.inf

    def add(self, result: str, kind: str, count: int) -> None:
        with self._lock:
            self._tally[f"{result}:{kind}"] += count
            if self._clock() - self._last < self._interval_s:
                return
            self._emit()

    def report(self) -> None:
        """Log what was not reported yet (at close)."""
        with self._lock:
            if self._tally:
                self._emit()

    def _emit(self) -> None:
        log.warning(
            "record log full or closed: rows not queued",
            extra={"rows": dict(self._tally), "interval_s": self._interval_s},
        )
        self._tally.clear()
        self._last = self._clock()
