"""Degraded mode in the guarded reader: the circuit breaker, the budget (and readers that
bound themselves), garbage as a decode error, and the stale cache."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from server.features.base import CustomerFeatures, FeatureReadError
from server.features.breaker import BreakerState, CircuitBreaker
from server.features.cache import ProfileCache
from server.features.guard import GuardedReader
from tests.support.engines import PROFILE, SUPPORT, features
from tests.support.fake_features import FakeClock, FakeReader, down, guarded


def reason_of(reader: GuardedReader, ids: Sequence[str] = ("C1",)) -> str:
    with pytest.raises(FeatureReadError) as failed:
        reader.read(ids)
    return failed.value.reason


def test_breaker_opens_after_threshold_fails_fast_probes_and_closes() -> None:
    clock, changes = FakeClock(), []
    breaker = CircuitBreaker(3, 5.0, clock=clock, on_change=lambda *c: changes.append(c[1]))
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure("feature_timeout")
    breaker.record_success()  # resets the consecutive count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure("feature_timeout")
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()  # fails fast while open
    clock.now += 0.1
    assert breaker.allow()  # the one half-open probe...
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow() and not breaker.allow()  # ...and no one else
    breaker.record_failure("feature_store_unavailable")  # probe failed: open again
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 5.0
    assert breaker.allow()
    breaker.record_success()  # probe succeeded
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    assert changes == ["open", "half_open", "open", "half_open", "closed"]


def test_breaker_ignores_late_success_while_open_and_retries_a_lost_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 2.0, clock=clock)
    breaker.record_failure("feature_timeout")
    breaker.record_success()  # a straggler admitted before it opened
    assert breaker.state is BreakerState.OPEN
    clock.now += 2.0
    assert breaker.allow() and not breaker.allow()
    clock.now += 2.0  # the probe never reported back: allow another one
    assert breaker.allow()


def test_breaker_state_changes_log_one_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    inner, clock = FakeReader(), FakeClock()
    reader = guarded(inner, clock)
    inner.error = down()
    with caplog.at_level(logging.WARNING, logger="server.features.guard"):
        reasons = [reason_of(reader) for _ in range(10)]
        assert reasons == ["feature_store_unavailable"] * 3 + ["circuit_open"] * 7
        assert inner.calls == 3  # open: the store is not touched
        assert REGISTRY.get_sample_value("personalization_feature_breaker_state") == 2
        inner.error = None
        clock.now += 5.0
        assert reader.read(["C1"])[0].customer_id == "C1"  # the probe
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert [r.breaker_to for r in caplog.records] == ["open", "half_open", "closed"]  # type: ignore[attr-defined]
    assert REGISTRY.get_sample_value("personalization_feature_breaker_state") == 0


def test_budget_stops_waiting_and_a_busy_pool_fails_fast() -> None:
    inner = FakeReader()
    inner.gate = threading.Event()
    reader = guarded(inner, threshold=100)
    started = time.monotonic()
    assert reason_of(reader) == "feature_timeout"
    assert reason_of(reader) == "feature_timeout"
    assert time.monotonic() - started < 1.0  # 2 x 50 ms budget, generous bound
    calls = inner.calls
    started = time.monotonic()
    assert reason_of(reader) == "feature_timeout"  # both threads still hang: no wait
    assert inner.calls == calls and time.monotonic() - started < 0.04
    inner.gate.set()  # the store answers: the abandoned reads end, threads free
    deadline = time.monotonic() + 5
    while reader._slots._value < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert reader.read(["C1"])[0].customer_id == "C1"
    reader.close()


class SelfTimedReader(FakeReader):
    """A reader that says it gives up by itself after ``self_timeout_s``."""

    def __init__(self, self_timeout_s: float) -> None:
        super().__init__()
        self.self_timeout_s = self_timeout_s
        self.threads: list[int] = []

    def read(self, customer_ids: Sequence[str]) -> list[CustomerFeatures]:
        self.threads.append(threading.get_ident())
        return super().read(customer_ids)


def test_a_reader_bounded_within_the_budget_runs_on_the_calling_thread() -> None:
    inner = SelfTimedReader(0.02)  # the guard's budget is 50 ms
    reader = guarded(inner, threshold=2)
    assert reader.read(["C1"])[0].customer_id == "C1"
    assert inner.threads == [threading.get_ident()]
    inner.error = FeatureReadError("feature_timeout", "socket timeout")
    assert [reason_of(reader), reason_of(reader)] == ["feature_timeout"] * 2
    assert reason_of(reader) == "circuit_open"  # its own timeouts still feed the breaker
    assert inner.calls == 3
    reader.close()


def test_a_reader_bounded_beyond_the_budget_still_runs_on_the_pool() -> None:
    inner = SelfTimedReader(0.5)
    reader = guarded(inner)
    reader.read(["C1"])
    assert inner.threads and inner.threads[0] != threading.get_ident()
    reader.close()


def test_garbage_is_a_decode_error_not_a_store_failure(caplog: pytest.LogCaptureFixture) -> None:
    from google.protobuf.message import DecodeError

    inner = FakeReader()
    inner.error = DecodeError("Wire format was corrupt")
    reader = guarded(inner)
    with caplog.at_level(logging.WARNING, logger="server.features.guard"):
        assert {reason_of(reader) for _ in range(10)} == {"feature_decode_error"}
    assert reader.breaker.state is BreakerState.CLOSED and inner.calls == 10
    assert [r.getMessage() for r in caplog.records] == [
        "undecodable online features: answering degraded"  # once, not per request
    ]


def test_stale_cache_serves_last_known_features_flagged() -> None:
    inner = FakeReader({"C1": {**PROFILE, **SUPPORT}})
    clock = FakeClock()
    cache = ProfileCache(ttl_s=30.0, max_size=2, clock=clock)
    reader = guarded(inner, cache=cache, threshold=100)
    reader.read(["C1", "C2"])
    assert len(cache) == 1  # only customers that were found
    inner.error = FeatureReadError("feature_timeout", "slow")
    c1, c2 = reader.read(["C1", "C2"])
    assert c1.found and c1.values["plan_tier"] == "premium"
    assert c1.degraded_reasons == ("feature_timeout", "stale_features")  # type: ignore[attr-defined]
    assert not c2.found and c2.degraded_reasons == ("feature_timeout",)  # type: ignore[attr-defined]
    assert reason_of(reader, ["C2"]) == "feature_timeout"  # nothing cached: plain failure
    clock.now += 30.1
    assert reason_of(reader, ["C1"]) == "feature_timeout"  # expired: not served
    inner.error, inner.rows = None, {}
    cache.update([features("C1", PROFILE)])
    reader.read(["C1"])  # the customer is gone from the store: gone from the cache
    assert len(cache) == 0
    cache.update([features(c, PROFILE) for c in ("A", "B", "C")])
    assert set(cache.get_many(["A", "B", "C"])) == {"B", "C"}  # LRU bound
