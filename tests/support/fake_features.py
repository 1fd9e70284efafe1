"""Fakes for degraded-mode tests: a settable clock, a feature reader that fails or blocks
on demand, and a guarded reader (breaker, budget, optional cache) around one."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from server.features.base import CustomerFeatures, FeatureReader, FeatureReadError
from server.features.breaker import CircuitBreaker
from server.features.cache import ProfileCache
from server.features.guard import GuardedReader, log_breaker_change
from tests.support.engines import features


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeReader(FeatureReader):
    """Known rows; ``error`` (an exception) makes reads raise; ``gate`` makes them block."""

    def __init__(self, rows: dict[str, dict[str, Any]] | None = None) -> None:
        self.rows = {cid: features(cid, values) for cid, values in (rows or {}).items()}
        self.error: Exception | None = None
        self.gate: threading.Event | None = None
        self.calls = 0
        self.up = True

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.error is not None:
            raise self.error
        return [self.rows.get(cid) or CustomerFeatures(cid) for cid in customer_ids]

    def ping(self) -> bool:
        return self.up


def guarded(
    inner: FeatureReader,
    clock: FakeClock | None = None,
    cache: ProfileCache | None = None,
    threshold: int = 3,
) -> GuardedReader:
    breaker = CircuitBreaker(
        threshold, 5.0, clock=clock or FakeClock(), on_change=log_breaker_change
    )
    return GuardedReader(inner, 0.05, breaker, cache=cache, threads=2)


def down() -> FeatureReadError:
    return FeatureReadError("feature_store_unavailable", "connection refused")
