"""Generic reader through Feast's own ``get_online_features`` (any online store).

Used for the SQLite store, and as the reference the Redis fast path is tested against.
It asks only for the FeatureService (by name, resolved once) and reads the response
proto directly (values, statuses' timestamps) instead of building a dataframe.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from server.features.base import (
    Clock,
    CustomerFeatures,
    FeatureReader,
    FeatureReadError,
    ServiceSpec,
    describe_service,
    is_live,
    now_clock,
    python_value,
)

# (view index, raw feature name) for each full feature name "view__feature"
_Slot = tuple[int, str]


class FeastFeatureReader(FeatureReader):
    """``FeatureStore.get_online_features`` + the TTL rule of :mod:`server.features.base`."""

    def __init__(
        self,
        store: Any,
        feature_service: str,
        clock: Clock = now_clock,
        lock: threading.Lock | None = None,
    ) -> None:
        """``lock`` serializes this reader's store calls; pass another reader's to share
        the store (and its connection) with it."""
        self._store = store
        self._spec: ServiceSpec = describe_service(store, feature_service)
        self._service = store.get_feature_service(feature_service)
        self._clock = clock
        self._slots: dict[str, _Slot] = {
            f"{view.response_prefix}__{name}": (i, name)
            for i, view in enumerate(self._spec.views)
            for name in view.features
        }
        # Feast's SQLite store shares one connection; serialize reads through it.
        self._lock = lock if lock is not None else threading.Lock()

    @property
    def spec(self) -> ServiceSpec:
        return self._spec

    @property
    def store(self) -> Any:
        """The Feast ``FeatureStore`` read through."""
        return self._store

    @property
    def lock(self) -> threading.Lock:
        """The lock every call to the store holds."""
        return self._lock

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        if not customer_ids:
            return []
        with self._lock:
            return self.read_unlocked(customer_ids)

    def read_unlocked(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        """:meth:`read` for a caller that already holds :attr:`lock`."""
        if not customer_ids:
            return []
        try:
            response = self._store.get_online_features(
                features=self._service,
                entity_rows={self._spec.join_key: list(customer_ids)},
                full_feature_names=True,
            )
        except Exception as exc:  # any store failure: let the engine degrade
            raise FeatureReadError("feature_store_unavailable", repr(exc)) from exc
        return self._convert(response.proto, customer_ids, self._clock())

    def _convert(
        self, proto: Any, customer_ids: Sequence[str], now: float
    ) -> list[CustomerFeatures]:
        out = [CustomerFeatures(cid) for cid in customer_ids]
        views = self._spec.views
        # live[v][r]: row r has an unexpired row of view v (decided once per view)
        live: list[list[bool] | None] = [None] * len(views)
        for name, vector in zip(proto.metadata.feature_names.val, proto.results, strict=True):
            slot = self._slots.get(name)
            if slot is None:  # the join key column
                continue
            v, feature = slot
            flags = live[v]
            if flags is None:
                flags = live[v] = self._live_rows(vector.event_timestamps, v, out, now)
            for row, value in enumerate(vector.values):
                if flags[row]:
                    parsed = python_value(value)
                    if parsed is not None:
                        out[row].values[feature] = parsed
        return out

    def _live_rows(
        self, stamps: Any, v: int, out: list[CustomerFeatures], now: float
    ) -> list[bool]:
        view = self._spec.views[v]
        flags = []
        for row, stamp in enumerate(stamps):
            event_time = stamp.seconds + stamp.nanos / 1e9
            ok = is_live(event_time, view.ttl_seconds, now)
            if ok:
                out[row].event_times[view.name] = event_time
            flags.append(ok)
        return flags
