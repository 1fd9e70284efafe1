"""Last-known features per customer, served only while the online store fails.

A short-lived, bounded LRU: every successful read refreshes the customers it found
(and forgets the ones it did not find, so an erased or expired customer is not served
from here), and entries older than ``ttl_s`` are never served. The guard
(:mod:`server.features.guard`) consults it only when a read fails; answers built from
it are flagged degraded with ``stale_features``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from server.features.base import CustomerFeatures


class ProfileCache:
    """Thread-safe ``customer_id -> (stored at, features)`` LRU with a TTL."""

    def __init__(
        self, ttl_s: float, max_size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s <= 0 or max_size < 1:
            raise ValueError("ttl_s must be > 0 and max_size >= 1")
        self._ttl_s = ttl_s
        self._max_size = max_size
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, CustomerFeatures]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def update(self, rows: Iterable[CustomerFeatures]) -> None:
        """Remember the fresh result of a successful read."""
        now = self._clock()
        entries = self._entries
        with self._lock:
            for row in rows:
                if row.found:
                    entries[row.customer_id] = (now, row)
                    entries.move_to_end(row.customer_id)
                else:
                    entries.pop(row.customer_id, None)
            while len(entries) > self._max_size:
                entries.popitem(last=False)

    def get_many(self, customer_ids: Sequence[str]) -> dict[str, CustomerFeatures]:
        """The unexpired entries among ``customer_ids`` (expired ones are dropped)."""
        now = self._clock()
        out: dict[str, CustomerFeatures] = {}
        with self._lock:
            for cid in customer_ids:
                entry = self._entries.get(cid)
                if entry is None:
                    continue
                stored, row = entry
                if now - stored > self._ttl_s:
                    del self._entries[cid]
                else:
                    out[cid] = row
        return out

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
